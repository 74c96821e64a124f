/**
 * The store is the system of record: the only place a message is acknowledged from, and the source every gap is
 * filled from. Implementations sit beside this file (`sqlite-store.ts`; PostgreSQL later) and pass one contract
 * suite (`store.contract.ts`).
 *
 * Message text reaches the store already sealed (see `MessageSealer`); ids, times and `seq` stay clear for indexing.
 */
import type { Role } from '@therapy-chat/protocol';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export type ConversationKind = 'appointment' | 'thread';
/** `cancelled` is an appointment the admin called off before it ended; its transcript takes nothing. */
export type AppointmentStatus = 'scheduled' | 'waiting' | 'live' | 'ended' | 'cancelled';
export type CaseStatus = 'active' | 'discharged';

export interface ConversationInfo {
  readonly id: string;
  readonly kind: ConversationKind;
  readonly caseId: string;
  readonly caseStatus: CaseStatus;
  readonly patientId: string;
  readonly therapistId: string;
  readonly supervisorId: string | null;
  /** When the case was discharged (ms since the epoch), if it was. */
  readonly dischargedAt: number | null;
  /** When the patient's request restricted processing of the case's records, if they did. */
  readonly restrictedAt: number | null;
  /** When retention ended and the case's keys were destroyed, if they were. */
  readonly shreddedAt: number | null;
  /** For an appointment's transcript: the appointment and its status. */
  readonly appointmentId: string | null;
  readonly appointmentStatus: AppointmentStatus | null;
  readonly lastSeq: number;
}

export interface StoredMessage {
  readonly conv: string;
  readonly seq: number;
  readonly senderId: string;
  readonly senderRole: Role;
  readonly clientMsgId: string;
  /** Id of the data key the text is sealed with. */
  readonly keyId: string;
  readonly ciphertext: Uint8Array;
  readonly ts: number;
}

export interface AppendRequest {
  readonly conv: string;
  readonly senderId: string;
  readonly senderRole: Role;
  readonly clientMsgId: string;
  readonly text: string;
  readonly ts: number;
}

export type AppendOutcome =
  | { readonly kind: 'stored'; readonly message: StoredMessage }
  /** The same sender already stored this `clientMsgId` with the same text: the original is returned. */
  | { readonly kind: 'duplicate'; readonly message: StoredMessage }
  /** The same sender already stored this `clientMsgId` with a different text. Nothing stored. */
  | { readonly kind: 'mismatch' }
  /** The conversation accepts no new messages. Nothing stored. */
  | { readonly kind: 'closed' }
  | { readonly kind: 'not-found' };

/**
 * Seals and opens message text. The store calls it inside its transaction, once it knows the `seq`, because the
 * ciphertext is bound to its conversation and seq. Both calls are synchronous: the data key is loaded beforehand.
 */
export interface MessageSealer {
  seal(caseId: string, conv: string, seq: number, text: string): { keyId: string; ciphertext: Buffer };
  open(message: StoredMessage): string;
}

export interface DataKeyRecord {
  readonly id: string;
  readonly caseId: string;
  readonly kekId: string;
  readonly wrapped: Buffer;
  readonly createdAt: number;
}

export interface NewUser {
  readonly id: string;
  readonly role: Role;
}

export interface NewCase {
  readonly id: string;
  readonly patientId: string;
  readonly therapistId: string;
  /** The id of the case's inter-session message thread, created with it. */
  readonly threadId: string;
  readonly supervisorId?: string | null;
  /** The contract whose age rules apply; `default` (minimum age 18) without it. */
  readonly contractId?: string;
  /** Re-referral: the patient's earlier case, whose records this case's therapist may read. */
  readonly previousCaseId?: string | null;
  readonly referralVerifiedAt?: number | null;
  readonly guardianConsentAt?: number | null;
}

export interface NewAppointment {
  readonly id: string;
  readonly caseId: string;
  /** The id of the appointment's transcript, created with it. */
  readonly conversationId: string;
  readonly scheduledAt: number;
  readonly status: AppointmentStatus;
}

/** The store failed in a way that may pass (busy, disconnected): the caller answers `UNAVAILABLE`. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

export interface Store {
  /** Brings the schema up to date. Safe to run on every start and from several processes. */
  migrate(): Promise<void>;
  /**
   * The typed query layer over the same database, for the cold queries of the care model (accounts, cases, notes,
   * grants, requests). The hot path (append, replay) stays behind the methods below.
   */
  readonly kysely: Kysely<Database>;
  /** Resolves when the store answers a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;

  getConversation(id: string): Promise<ConversationInfo | undefined>;
  /**
   * Appends a batch in one durable transaction, assigning each conversation's next seqs in order. Outcomes are in
   * the order of the requests. Resolves only after the transaction is durably committed; on failure nothing of the
   * batch is stored.
   */
  append(batch: readonly AppendRequest[], sealer: MessageSealer): Promise<AppendOutcome[]>;
  /** Messages with `seq > afterSeq`, oldest first, at most `limit`. */
  messagesAfter(conv: string, afterSeq: number, limit: number): Promise<StoredMessage[]>;
  /** The newest `limit` messages with `seq < beforeSeq` (all, without it), oldest first. */
  messagesBefore(conv: string, beforeSeq: number | undefined, limit: number): Promise<StoredMessage[]>;

  dataKeysForCase(caseId: string): Promise<DataKeyRecord[]>;
  insertDataKey(key: DataKeyRecord): Promise<void>;

  createUser(user: NewUser): Promise<void>;
  createCase(c: NewCase): Promise<void>;
  createAppointment(a: NewAppointment): Promise<void>;
  setAppointmentStatus(id: string, status: AppointmentStatus, at: number): Promise<void>;
}

/**
 * What the commit transaction needs of a conversation: whether it takes messages (`conversationAcceptsMessages`), its
 * last seq, and its case (the data key). A store may read just these on the append path.
 */
export type AppendTarget = Pick<
  ConversationInfo,
  'caseId' | 'kind' | 'caseStatus' | 'shreddedAt' | 'appointmentStatus' | 'lastSeq'
>;

/**
 * Whether a conversation takes new messages: an ended appointment's transcript is closed for good, and a discharged
 * case's thread takes no more. The store checks this inside the commit transaction, so it holds even when the
 * appointment ends while a message is in flight.
 */
export function conversationAcceptsMessages(info: AppendTarget): boolean {
  if (info.shreddedAt !== null) return false;
  if (info.kind === 'appointment') return info.appointmentStatus !== 'ended' && info.appointmentStatus !== 'cancelled';
  return info.caseStatus === 'active';
}
