/**
 * The hash chain that makes the audit log tamper-evident.
 *
 * Each event's hash is SHA-256 over a canonical serialisation of its seq, the previous event's hash and every field:
 * the JSON text of one array, in a fixed order, prefixed by a format tag —
 *
 * ```
 * ["tc-audit/1", seq, prevHash, time, actorId, actorRole, action, resourceType, resourceId, outcome, reason, ip, device]
 * ```
 *
 * — with absent values as `null`, integers as JSON numbers and strings as `JSON.stringify` escapes them, encoded as
 * UTF-8. An array (not an object) leaves no freedom in key order, so any implementation, in any language, gets the
 * same bytes. Event 1's `prevHash` is `GENESIS_HASH`.
 *
 * Plain SHA-256, not an HMAC: anyone holding a copy of the log can verify it, with no secret. What that proves, and
 * what it cannot, is in docs/audit.md: an edit, deletion, reordering or insertion inside the chain shows; rewriting
 * the tail with fresh hashes, cutting it off or appending to it shows only against a head recorded elsewhere.
 */
import { createHash } from 'node:crypto';
import type { AuditContent, AuditRecord } from './audit-event.js';
import type { AuditHead } from './audit-sink.js';

/** `prevHash` of event 1. */
export const GENESIS_HASH = '0'.repeat(64);

/** Tags the serialisation, so that a future format can be told apart from this one. */
export const AUDIT_HASH_FORMAT = 'tc-audit/1';

/** The bytes hashed for one event, as a string (hashed as UTF-8). */
export function canonicalAuditRecord(seq: number, prevHash: string, c: AuditContent): string {
  return JSON.stringify([
    AUDIT_HASH_FORMAT,
    seq,
    prevHash,
    c.time,
    c.actorId,
    c.actorRole,
    c.action,
    c.resourceType,
    c.resourceId,
    c.outcome,
    c.reason,
    c.ip,
    c.device,
  ]);
}

export function hashAuditRecord(seq: number, prevHash: string, c: AuditContent): string {
  return createHash('sha256')
    .update(canonicalAuditRecord(seq, prevHash, c), 'utf8')
    .digest('hex');
}

/** Whether a stored record's hash matches its own content, at its own seq (or at `asSeq`). */
export function recordHashMatches(r: AuditRecord, asSeq: number = r.seq): boolean {
  return hashAuditRecord(asSeq, r.prevHash, r) === r.hash;
}

/** Gives a batch of contents the next seqs after `head`, each chained to the one before. */
export function chainAuditContents(head: AuditHead, contents: readonly AuditContent[]): AuditRecord[] {
  const out: AuditRecord[] = [];
  let { seq, hash } = head;
  for (const c of contents) {
    const prevHash = hash;
    seq += 1;
    hash = hashAuditRecord(seq, prevHash, c);
    out.push({
      seq,
      prevHash,
      hash,
      time: c.time,
      actorId: c.actorId,
      actorRole: c.actorRole,
      action: c.action,
      resourceType: c.resourceType,
      resourceId: c.resourceId,
      outcome: c.outcome,
      reason: c.reason,
      ip: c.ip,
      device: c.device,
    });
  }
  return out;
}
