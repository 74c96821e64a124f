import { describe, expect, it } from 'vitest';
import { chainAuditContents, GENESIS_HASH } from './audit-chain.js';
import { toAuditContent, type AuditRecord } from './audit-event.js';
import { auditEvent } from './audit-sink.contract.js';
import { checkExpectedHead, verifyAuditChain, type AuditChainSource } from './audit-verify.js';

function source(records: AuditRecord[]): AuditChainSource & { reads: number } {
  const src = {
    reads: 0,
    readRecords: async (from: number, limit: number) => {
      src.reads += 1;
      return records.filter((r) => r.seq >= from).slice(0, limit);
    },
    recordedHead: async () => {
      const last = records.at(-1);
      return last ? { seq: last.seq, hash: last.hash } : { seq: 0, hash: GENESIS_HASH };
    },
  };
  return src;
}

const log = (n: number) =>
  chainAuditContents(
    { seq: 0, hash: GENESIS_HASH },
    Array.from({ length: n }, (_, i) => toAuditContent(auditEvent(i + 1))),
  );

describe('verifyAuditChain', () => {
  it('walks page by page, across page boundaries', async () => {
    const records = log(20);
    const src = source(records);
    expect(await verifyAuditChain(src, {}, 3)).toEqual({
      ok: true,
      count: 20,
      headSeq: 20,
      headHash: records[19]!.hash,
    });
    expect(src.reads).toBe(7);
  });

  it('finds a swap whose rows lie on different pages', async () => {
    const records = log(20);
    const [a, b] = [records[1]!, records[17]!];
    records[1] = { ...b, seq: 2 };
    records[17] = { ...a, seq: 18 };
    expect(await verifyAuditChain(source(records), {}, 4)).toMatchObject({
      ok: false,
      firstBadSeq: 2,
      problem: 'reordered',
      detail: 'seq 2 holds event 18, and event 2 is stored at seq 18',
    });
  });

  it('reports a deletion of several events as one gap', async () => {
    const records = log(10).filter((r) => r.seq < 4 || r.seq > 6);
    expect(await verifyAuditChain(source(records))).toMatchObject({
      firstBadSeq: 4,
      problem: 'deleted',
      detail: 'events 4 to 6 are missing',
    });
  });

  it('refuses a malformed expected head', () => {
    expect(() => checkExpectedHead({ seq: -1, hash: GENESIS_HASH })).toThrow(TypeError);
    expect(() => checkExpectedHead({ seq: 3, hash: 'ABC' })).toThrow(TypeError);
    expect(() => checkExpectedHead({ seq: 0, hash: 'a'.repeat(64) })).toThrow(TypeError);
    expect(() => checkExpectedHead({ seq: 0, hash: GENESIS_HASH })).not.toThrow();
  });
});
