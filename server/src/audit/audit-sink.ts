/**
 * The audit log (DESIGN.md §2): who did what to which record, when, from where, with what outcome — for every
 * decision, granted or refused, that touches clinical data. Append-only and tamper-evident: each event carries the
 * SHA-256 hash of its own content and of the event before it (`audit-chain.ts`), and `verify()` walks the chain.
 *
 * Implementations sit beside this file: `sql-audit-sink.ts` (SQLite and PostgreSQL, table `audit_events`) and
 * `memory-audit-sink.ts` (tests). They pass one contract suite (`audit-sink.contract.ts`). The hot path does not call
 * a sink directly: it records through an `AuditWriter` (`audit-writer.ts`), which buffers and appends in batches.
 *
 * An audit event holds ids, codes and times only. Never message text, notes, tokens or identity fields (name, date
 * of birth, contact details): `reason` is a short fixed code, not a sentence, and `normaliseAuditEvent` refuses
 * anything else.
 */
import type { Role } from '@therapy-chat/protocol';

export const AUDIT_ACTIONS = [
  /** A token was accepted on a connection or request. */
  'auth.login',
  /** A connection swapped its token for a fresh one. */
  'auth.refresh',
  /** A token was refused (expired, bad signature, wrong audience, account disabled). */
  'auth.refused',
  'auth.logout',
  'conversation.join',
  'conversation.join.refused',
  /** Reading a closed transcript (an ended appointment), e.g. by a supervisor or after discharge. */
  'transcript.read',
  /** Paging back through a conversation's history. */
  'history.read',
  /** A patient exporting their records. */
  'export',
  /** An admin changed an account, a case, an assignment or an appointment. */
  'admin.change',
  /** An admin opened clinical content under break-glass; `resource` is the case, `reason` the category. */
  'break-glass',
  /** Any other refused access to clinical data. */
  'access.refused',
  /** A live subscription ended because a permission ended (discharge + 6 weeks, reassignment, disabled, logout). */
  'access.revoked',
  /** The risk screen flagged a message; `reason` is `matched@classifier` (`suicide.intent@phrase-list@2025-01-15`). */
  'risk.flagged',
  /** An appointment changed state: waiting, admitted (live), ended, cancelled; `reason` the new state. */
  'appointment.change',
  /** A clinical note was written, or read. */
  'note.write',
  'note.read',
  /** A supervisor read a case's pseudonymised transcripts. */
  'supervision.read',
  /** A patient appended a correction note disputing a fact. */
  'record.correction',
  /** A patient asked for erasure or restriction; `reason` names kind and scope. */
  'record.request',
  /** A patient read the report of who accessed their record. */
  'access-report.read',
  /** Retention: a case's keys were destroyed, or an account that never became a case was removed. */
  'retention.shred',
  /** The key-encryption key was rotated and data keys re-wrapped. */
  'keys.rotate',
  /** A person's identity fields were read (their own, or an admin's look at an account); `resource` is the user. */
  'identity.read',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export const AUDIT_OUTCOMES = ['granted', 'refused', 'error'] as const;
/** `error`: the decision could not be made or carried out (store unavailable, a bug); nothing was disclosed. */
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

export const AUDIT_RESOURCE_TYPES = ['conversation', 'case', 'appointment', 'user', 'note', 'grant'] as const;
export type AuditResourceType = (typeof AUDIT_RESOURCE_TYPES)[number];

export interface AuditResource {
  readonly type: AuditResourceType;
  /** The record's id as the service knows it (`cv_…`, a case reference `C-7K3M-92QD`, a user id). */
  readonly id: string;
}

/**
 * Who acted: a user in a role (the same shape as the access policy's `Actor`), the service itself, or nobody yet
 * known (a refused token names no one we can trust).
 */
export type AuditActor = { readonly userId: string; readonly role: Role } | 'system' | 'anonymous';

/** What a caller records. The sink adds `seq`, `prevHash` and `hash`. */
export interface AuditEventInput {
  readonly actor: AuditActor;
  readonly action: AuditAction;
  readonly resource?: AuditResource | null;
  readonly outcome: AuditOutcome;
  /**
   * Why, as a short fixed code: lower case `a-z0-9` words joined by `.`, `-`, `_`, `:` or `@`, at most 96 characters
   * (`not-participant`, `access-expired`, `token-expired`, `suicide.intent@phrase-list@2025-01-15`). No spaces, so no
   * sentences. The grammar cannot tell a code from an identifier that happens to fit it (an e-mail address does):
   * callers pass codes from a fixed set, never a value that came from a user.
   */
  readonly reason?: string | null;
  /** When the decision was made: milliseconds since the epoch, UTC. */
  readonly time: number;
  /** The client's IP address as the server saw it; `null` when unknown (system actions). */
  readonly ip?: string | null;
  /** The client's device: its User-Agent, control characters replaced and cut to 256 characters. */
  readonly device?: string | null;
}

/** One event as stored: every field present (`null` where absent), plus its place in the chain. */
export interface AuditEvent {
  /** 1, 2, 3, … with no gaps, across every node writing to the same database. */
  readonly seq: number;
  /** The `hash` of event `seq - 1`; for event 1, `GENESIS_HASH` (64 zeros). */
  readonly prevHash: string;
  /** SHA-256, lower-case hex, of the canonical serialisation of this event with `seq` and `prevHash`. */
  readonly hash: string;
  readonly actor: AuditActor;
  readonly action: AuditAction;
  readonly resource: AuditResource | null;
  readonly outcome: AuditOutcome;
  readonly reason: string | null;
  readonly time: number;
  readonly ip: string | null;
  readonly device: string | null;
}

/** The newest event's place in the chain; `{ seq: 0, hash: GENESIS_HASH }` for an empty log. */
export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
}

export const AUDIT_PROBLEMS = [
  /** An event's stored fields no longer match its hash, or it was changed and re-hashed. */
  'edited',
  /** Events are missing: a gap in `seq`, or a gap closed by renumbering the events after it. */
  'deleted',
  /** An event is stored at another `seq` than the one it was written at. */
  'reordered',
  /** Events that were never written by the sink: they push the real ones later, or lie past the recorded head. */
  'inserted',
  /** The log ends before a head that was recorded (by the sink itself, or by an operator with `expectHead`). */
  'truncated',
  /** The chain is consistent but disagrees with a recorded head: it was rewritten and re-hashed at or before it. */
  'rewritten',
  /** A stored row is not an event at all (a value of the wrong type or outside its set). */
  'malformed',
] as const;
export type AuditProblem = (typeof AUDIT_PROBLEMS)[number];

export type AuditVerifyResult =
  | { readonly ok: true; readonly count: number; readonly headSeq: number; readonly headHash: string }
  | {
      readonly ok: false;
      /** The first event that is not what the sink wrote (for `truncated`, the first missing one). */
      readonly firstBadSeq: number;
      readonly problem: AuditProblem;
      /** One line for an operator: what was found where. */
      readonly detail: string;
    };

export interface AuditVerifyOptions {
  /**
   * A head recorded earlier outside the database (the output of a previous `npm run audit:verify`). The log must
   * still hold event `seq` with exactly this hash: this is what detects a truncated tail, and a tail rewritten with
   * fresh hashes, which the chain alone cannot.
   */
  readonly expectHead?: AuditHead;
}

export interface AuditSink {
  /**
   * Appends a batch in one durable transaction: the events get the next seqs, in order, chained to the current head.
   * Resolves with the stored events once committed; on failure nothing of the batch is stored. Several sinks (nodes)
   * may append to one database at once; their batches take turns, so the chain stays linear.
   * Rejects with `AuditEventError`, before anything is written, when an event is not well formed; with
   * `StoreUnavailableError` when the database is away (nothing of the batch is stored: append it again).
   */
  append(events: readonly AuditEventInput[]): Promise<AuditEvent[]>;
  /** Events with `seq >= fromSeq`, oldest first, at most `limit`. */
  read(fromSeq: number, limit: number): Promise<AuditEvent[]>;
  /**
   * Events about any of `resources` with `seq >= fromSeq`, oldest first, at most `limit`: "who touched these records",
   * answered from the index on (resource_type, resource_id). Read-only; an empty list finds nothing.
   */
  readByResources(resources: readonly AuditResource[], fromSeq: number, limit: number): Promise<AuditEvent[]>;
  /** The newest event's seq and hash, as the sink records it. */
  head(): Promise<AuditHead>;
  /** Walks the whole chain from event 1 (page by page; memory stays small) and says whether it is intact. */
  verify(options?: AuditVerifyOptions): Promise<AuditVerifyResult>;
  close(): Promise<void>;
}
