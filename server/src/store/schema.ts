/** Table types for the typed query layer (Kysely). Times are milliseconds since the epoch, UTC. */
import type { Generated } from 'kysely';

export interface UsersTable {
  id: string;
  role: string;
  created_at: number;
  /** `active` or `disabled`. */
  status: Generated<string>;
  login: string | null;
  /** argon2id, in libsodium's `crypto_pwhash_str` format. */
  password_hash: string | null;
  external_subject: string | null;
  identity_key_id: string | null;
  /** The identity fields as one sealed JSON document (see `user_keys`). */
  identity_ct: Uint8Array | null;
  disabled_at: number | null;
  identity_erased_at: number | null;
}

export interface UserKeysTable {
  id: string;
  user_id: string;
  kek_id: string;
  wrapped: Uint8Array;
  created_at: number;
}

export interface ContractsTable {
  id: string;
  name: string;
  min_age: number;
  created_at: number;
}

export interface CasesTable {
  id: string;
  patient_id: string;
  therapist_id: string;
  status: string;
  opened_at: number;
  discharged_at: number | null;
  supervisor_id: string | null;
  contract_id: Generated<string>;
  previous_case_id: string | null;
  referral_verified_at: number | null;
  guardian_consent_at: number | null;
  restricted_at: number | null;
  shredded_at: number | null;
}

export interface NotesTable {
  id: string;
  case_id: string;
  /** `therapist` (an appointment's clinical note) or `correction` (a patient disputes a fact). */
  kind: string;
  appointment_id: string | null;
  conversation_id: string | null;
  seq: number | null;
  target_note_id: string | null;
  author_id: string;
  author_role: string;
  key_id: string;
  text_ct: Uint8Array;
  created_at: number;
}

export interface BreakGlassGrantsTable {
  id: string;
  case_id: string;
  admin_id: string;
  reason: string;
  granted_at: number;
  expires_at: number;
  revoked_at: number | null;
}

export interface AuthSessionsTable {
  id: string;
  user_id: string;
  refresh_hash: string;
  previous_refresh_hash: string | null;
  created_at: number;
  refreshed_at: number;
  expires_at: number;
  revoked_at: number | null;
  ip: string | null;
  device: string | null;
}

export interface DataRequestsTable {
  id: string;
  user_id: string;
  case_id: string | null;
  /** `erasure` or `restriction`. */
  kind: string;
  /** `identity` (contact data outside the record) or `clinical` (a case's records). */
  scope: string;
  /** `recorded`, `honoured` or `restricted` (clinical erasure: restricted until retention ends). */
  status: string;
  outcome: string | null;
  created_at: number;
  resolved_at: number | null;
}

export interface DataKeysTable {
  id: string;
  case_id: string;
  kek_id: string;
  wrapped: Uint8Array;
  created_at: number;
}

export interface ConversationsTable {
  id: string;
  case_id: string;
  kind: string;
  last_seq: Generated<number>;
  created_at: number;
}

export interface AppointmentsTable {
  id: string;
  case_id: string;
  conversation_id: string;
  status: string;
  scheduled_at: number;
  started_at: number | null;
  ended_at: number | null;
}

export interface MessagesTable {
  conversation_id: string;
  seq: number;
  sender_id: string;
  sender_role: string;
  client_msg_id: string;
  key_id: string;
  text_ct: Uint8Array;
  created_at: number;
}

/** One audit event (server/src/audit/): append-only, chained by `prev_hash` → `hash`. */
export interface AuditEventsTable {
  seq: number;
  prev_hash: string;
  hash: string;
  occurred_at: number;
  actor_id: string | null;
  actor_role: string;
  action: string;
  resource_type: string | null;
  resource_id: string | null;
  outcome: string;
  reason: string | null;
  ip: string | null;
  device: string | null;
}

/** The audit chain's head: one row (`id` 1), locked and moved by every append. */
export interface AuditHeadTable {
  id: number;
  seq: number;
  hash: string;
}

export interface Database {
  users: UsersTable;
  user_keys: UserKeysTable;
  contracts: ContractsTable;
  cases: CasesTable;
  notes: NotesTable;
  break_glass_grants: BreakGlassGrantsTable;
  auth_sessions: AuthSessionsTable;
  data_requests: DataRequestsTable;
  data_keys: DataKeysTable;
  conversations: ConversationsTable;
  appointments: AppointmentsTable;
  messages: MessagesTable;
  audit_events: AuditEventsTable;
  audit_head: AuditHeadTable;
}
