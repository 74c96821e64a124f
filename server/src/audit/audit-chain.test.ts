import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  canonicalAuditRecord,
  chainAuditContents,
  GENESIS_HASH,
  hashAuditRecord,
  recordHashMatches,
} from './audit-chain.js';
import { toAuditContent } from './audit-event.js';

const content = toAuditContent({
  actor: { userId: 'u_1', role: 'therapist' },
  action: 'conversation.join',
  resource: { type: 'conversation', id: 'cv_1' },
  outcome: 'granted',
  reason: 'participant',
  time: 1_700_000_000_000,
  ip: '203.0.113.7',
  device: 'Mozilla/5.0 é',
});

describe('the audit hash chain', () => {
  it('serialises an event canonically: one JSON array in a fixed order, tagged with the format', () => {
    expect(canonicalAuditRecord(1, GENESIS_HASH, content)).toBe(
      `["tc-audit/1",1,"${GENESIS_HASH}",1700000000000,"u_1","therapist","conversation.join","conversation","cv_1","granted","participant","203.0.113.7","Mozilla/5.0 é"]`,
    );
    const system = toAuditContent({ actor: 'system', action: 'admin.change', outcome: 'granted', time: 0 });
    expect(canonicalAuditRecord(2, 'ab'.repeat(32), system)).toBe(
      `["tc-audit/1",2,"${'ab'.repeat(32)}",0,null,"system","admin.change",null,null,"granted",null,null,null]`,
    );
  });

  it('hashes the UTF-8 of that serialisation with SHA-256 (a pinned vector: changing the format breaks old logs)', () => {
    const expected = createHash('sha256')
      .update(canonicalAuditRecord(1, GENESIS_HASH, content), 'utf8')
      .digest('hex');
    expect(hashAuditRecord(1, GENESIS_HASH, content)).toBe(expected);
    expect(hashAuditRecord(1, GENESIS_HASH, content)).toBe(
      '2bc7f77d297c16a09f05ccf8081ee0f6eb43efee3c7de00712d57efb2fa681aa',
    );
  });

  it('chains a batch to the head: seqs follow on, each prevHash is the hash before', () => {
    const [a, b] = chainAuditContents({ seq: 0, hash: GENESIS_HASH }, [content, content]);
    expect(a).toMatchObject({ seq: 1, prevHash: GENESIS_HASH });
    expect(b).toMatchObject({ seq: 2, prevHash: a!.hash });
    expect(a!.hash).not.toBe(b!.hash);
    const [c] = chainAuditContents({ seq: b!.seq, hash: b!.hash }, [content]);
    expect(c).toMatchObject({ seq: 3, prevHash: b!.hash });
    expect(recordHashMatches(c!)).toBe(true);
    expect(recordHashMatches(c!, 4)).toBe(false);
    expect(recordHashMatches({ ...c!, reason: 'other' })).toBe(false);
  });
});
