/** Table types for the typed query layer (Kysely). Times are milliseconds since the epoch, UTC. */
import type { Generated } from 'kysely';

export interface UsersTable {
  id: string;
  role: string;
  created_at: number;
}

export interface CasesTable {
  id: string;
  patient_id: string;
  therapist_id: string;
  status: string;
  opened_at: number;
  discharged_at: number | null;
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
  cases: CasesTable;
  data_keys: DataKeysTable;
  conversations: ConversationsTable;
  appointments: AppointmentsTable;
  messages: MessagesTable;
  audit_events: AuditEventsTable;
  audit_head: AuditHeadTable;
}
