/**
 * Verification of an audit chain, shared by every sink: walk the events from seq 1, page by page, and stop at the
 * first one that is not what a sink wrote. Finding *that* there is a problem is exact; naming *which kind* of
 * tampering caused it is a diagnosis, made only on the failure path by looking for where the bad row's content
 * really belongs (see `diagnoseMisplaced`).
 */
import { GENESIS_HASH, recordHashMatches } from './audit-chain.js';
import { isHash, isWellFormedRecord, type AuditRecord } from './audit-event.js';
import type { AuditHead, AuditProblem, AuditVerifyOptions, AuditVerifyResult } from './audit-sink.js';

/** What verification needs from a sink. */
export interface AuditChainSource {
  /** Stored records with `seq >= fromSeq`, in seq order, at most `limit`, exactly as stored. */
  readRecords(fromSeq: number, limit: number): Promise<AuditRecord[]>;
  /**
   * The head the sink keeps beside the events (SQL: the `audit_head` row), moved in the same transaction as each
   * append. Read before and after the walk: a log shorter than the first read was truncated; a log longer than the
   * second holds events appended behind the sink's back.
   */
  recordedHead(): Promise<AuditHead>;
}

/** Records read per query while verifying. */
export const VERIFY_PAGE_SIZE = 1000;

/** How far from its row a misplaced event's true seq is searched for by trying every seq (cheap: one hash each). */
const MISPLACED_WINDOW = 256;

type Failure = Extract<AuditVerifyResult, { ok: false }>;

const failure = (firstBadSeq: number, problem: AuditProblem, detail: string): Failure => ({
  ok: false,
  firstBadSeq,
  problem,
  detail,
});

/** Checks that a head to expect is well formed. @throws TypeError otherwise. */
export function checkExpectedHead(head: AuditHead): void {
  if (!Number.isSafeInteger(head.seq) || head.seq < 0) throw new TypeError('expected head seq must be an integer ≥ 0');
  if (!isHash(head.hash)) throw new TypeError('expected head hash must be 64 lower-case hex digits');
  if (head.seq === 0 && head.hash !== GENESIS_HASH) throw new TypeError('expected head 0 must have the genesis hash');
}

async function* allRecords(src: AuditChainSource, pageSize: number): AsyncGenerator<AuditRecord> {
  let from = 1;
  for (;;) {
    const page = await src.readRecords(from, pageSize);
    yield* page;
    const last = page.at(-1);
    if (page.length < pageSize || !last || !Number.isSafeInteger(last.seq)) return;
    from = last.seq + 1;
  }
}

export async function verifyAuditChain(
  src: AuditChainSource,
  options: AuditVerifyOptions = {},
  pageSize = VERIFY_PAGE_SIZE,
): Promise<AuditVerifyResult> {
  const expect = options.expectHead;
  if (expect) checkExpectedHead(expect);
  const before = await src.recordedHead();
  let expected = 1;
  let prev = GENESIS_HASH;
  for await (const r of allRecords(src, pageSize)) {
    const e = expected;
    if (typeof r.seq !== 'number' || !Number.isSafeInteger(r.seq))
      return failure(e, 'malformed', `the row after seq ${e - 1} has seq ${JSON.stringify(r.seq)}`);
    if (r.seq < e) return failure(r.seq, 'inserted', `a second event with seq ${r.seq}`);
    if (r.seq > e)
      return failure(
        e,
        'deleted',
        r.seq === e + 1 ? `event ${e} is missing` : `events ${e} to ${r.seq - 1} are missing`,
      );
    if (!isHash(r.hash) || !isHash(r.prevHash))
      return failure(e, 'malformed', `event ${e} has a hash or previous hash that is not 64 hex digits`);
    if (!recordHashMatches(r)) return diagnoseMisplaced(src, r, prev, pageSize);
    if (r.prevHash !== prev) {
      if (e === 1) return failure(1, 'edited', 'event 1 does not start from the genesis hash');
      return failure(
        e - 1,
        'edited',
        `event ${e} does not follow event ${e - 1}: event ${e - 1} was changed and its hash recomputed, or event ${e} was replaced`,
      );
    }
    if (!isWellFormedRecord(r)) return failure(e, 'malformed', `event ${e} holds a value no sink writes`);
    if (r.seq === before.seq && r.hash !== before.hash)
      return failure(
        e,
        'rewritten',
        `event ${e} differs from the head the log recorded (audit_head): rewritten at or before it`,
      );
    if (expect && r.seq === expect.seq && r.hash !== expect.hash)
      return failure(
        e,
        'rewritten',
        `event ${e} differs from the expected head: the log was rewritten at or before seq ${e}`,
      );
    prev = r.hash;
    expected += 1;
  }
  const headSeq = expected - 1;
  if (expect && expect.seq > headSeq)
    return failure(
      headSeq + 1,
      'truncated',
      `the log ends at seq ${headSeq}, but the expected head is seq ${expect.seq}`,
    );
  if (before.seq > headSeq)
    return failure(
      headSeq + 1,
      'truncated',
      `the log ends at seq ${headSeq}, but its own head record (audit_head) is at seq ${before.seq}`,
    );
  const after = await src.recordedHead();
  if (headSeq > after.seq)
    return failure(
      after.seq + 1,
      'inserted',
      `events ${after.seq + 1} to ${headSeq} lie past the log's own head record (audit_head): they were not appended by a sink`,
    );
  return { ok: true, count: headSeq, headSeq, headHash: prev };
}

/**
 * The row at seq `r.seq` does not hash to its stored hash. If its content hashes correctly at another seq, it was
 * written there: find that seq from its neighbours in the chain (the row holding its `prevHash`, the row naming its
 * hash as `prevHash`) or by trying the seqs near it, then tell an insertion (its content belongs earlier), a reordering (it belongs later, and the
 * content of this seq is stored elsewhere) and a deletion with renumbering (it belongs later, and the content of this
 * seq is gone). Otherwise its fields were edited. Costs one more pass over the log, on the failure path only.
 */
async function diagnoseMisplaced(
  src: AuditChainSource,
  r: AuditRecord,
  prev: string,
  pageSize: number,
): Promise<Failure> {
  const e = r.seq;
  const candidates = new Set<number>();
  if (r.prevHash === GENESIS_HASH) candidates.add(1);
  let contentOfE: number | undefined;
  for await (const other of allRecords(src, pageSize)) {
    if (other.seq === e || typeof other.seq !== 'number') continue;
    if (other.hash === r.prevHash) candidates.add(other.seq + 1);
    if (other.prevHash === r.hash) candidates.add(other.seq - 1);
    if (contentOfE === undefined && other.prevHash === prev && isHash(other.hash) && recordHashMatches(other, e))
      contentOfE = other.seq;
  }
  for (let s = Math.max(1, e - MISPLACED_WINDOW); s <= e + MISPLACED_WINDOW; s++) candidates.add(s);
  const trueSeq = [...candidates].find((s) => s >= 1 && s !== e && recordHashMatches(r, s));
  if (trueSeq === undefined) return failure(e, 'edited', `event ${e}'s stored fields no longer match its hash`);
  if (trueSeq < e)
    return failure(
      trueSeq,
      'inserted',
      `seq ${e} holds event ${trueSeq}: ${e - trueSeq} event(s) were inserted at seq ${trueSeq} and the rest renumbered`,
    );
  if (contentOfE !== undefined)
    return failure(e, 'reordered', `seq ${e} holds event ${trueSeq}, and event ${e} is stored at seq ${contentOfE}`);
  return failure(
    e,
    'deleted',
    `event ${e} is missing and the events after it were renumbered (seq ${e} holds event ${trueSeq})`,
  );
}
