import { describe, expect, it } from 'vitest';
import { type AppendPlan, dedupeKey, planAppend } from './append-plan.js';
import type { AppendRequest, ConversationInfo, MessageSealer, StoredMessage } from './store.js';

const sealer: MessageSealer = {
  seal: (_case, conv, seq, text) => ({ keyId: 'k', ciphertext: Buffer.from(`${conv}/${seq}/${text}`) }),
  open: (m) => Buffer.from(m.ciphertext).toString().split('/').slice(2).join('/'),
};

function conversation(id: string, over: Partial<ConversationInfo> = {}): ConversationInfo {
  return {
    id,
    kind: 'appointment',
    caseId: 'case',
    caseStatus: 'active',
    patientId: 'p',
    therapistId: 't',
    supervisorId: null,
    dischargedAt: null,
    restrictedAt: null,
    shreddedAt: null,
    appointmentId: `a-${id}`,
    appointmentStatus: 'live',
    lastSeq: 0,
    ...over,
  };
}

/** A table of messages and conversations, appended to by either strategy. */
class Table {
  readonly rows = new Map<string, StoredMessage>();
  readonly convs = new Map<string, ConversationInfo>([
    ['a', conversation('a')],
    ['b', conversation('b')],
  ]);
  lookups = 0;

  append(batch: readonly AppendRequest[], insertFirst: boolean): AppendPlan {
    const plan = planAppend(
      batch,
      (id) => this.convs.get(id),
      (conv, sender, id) => {
        this.lookups++;
        return this.rows.get(dedupeKey(conv, sender, id));
      },
      sealer,
      insertFirst ? (m) => this.insert(m) : undefined,
    );
    if (!insertFirst) for (const m of plan.inserts) expect(this.insert(m)).toBe(true);
    for (const [id, seq] of plan.lastSeqs) this.convs.set(id, { ...this.convs.get(id)!, lastSeq: seq });
    return plan;
  }

  private insert(m: StoredMessage): boolean {
    const key = dedupeKey(m.conv, m.senderId, m.clientMsgId);
    if (this.rows.has(key)) return false;
    this.rows.set(key, m);
    return true;
  }
}

const req = (conv: string, clientMsgId: string, text = 'hi'): AppendRequest => ({
  conv,
  senderId: 'p',
  senderRole: 'patient',
  clientMsgId,
  text,
  ts: 1,
});

describe('planAppend', () => {
  const script: AppendRequest[][] = [
    [req('a', '1'), req('b', '1'), req('a', '2'), req('a', '1')],
    // A resend from an earlier batch between new messages: the new ones get the next seqs, with no gap.
    [req('a', '3'), req('a', '2'), req('a', '4'), req('a', '1', 'changed'), req('zz', '1')],
  ];

  it('gives the same outcomes whether it looks up first or inserts first, and inserts first with fewer lookups', () => {
    const lookupFirst = new Table();
    const insertFirst = new Table();
    for (const batch of script) {
      expect(insertFirst.append(batch, true).outcomes).toEqual(lookupFirst.append(batch, false).outcomes);
    }
    expect(insertFirst.rows).toEqual(lookupFirst.rows);
    expect(insertFirst.convs).toEqual(lookupFirst.convs);
    expect([...insertFirst.rows.values()].filter((m) => m.conv === 'a').map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    // Only the two resends of the second batch were looked up.
    expect(insertFirst.lookups).toBe(2);
    expect(lookupFirst.lookups).toBe(7);
  });

  it('still answers a resend with its first ack once the conversation is closed', () => {
    for (const insertFirst of [false, true]) {
      const t = new Table();
      const [first] = t.append([req('a', '1')], insertFirst).outcomes;
      t.convs.set('a', { ...t.convs.get('a')!, appointmentStatus: 'ended' });
      const outcomes = t.append([req('a', '1'), req('a', '2')], insertFirst).outcomes;
      expect(first?.kind).toBe('stored');
      expect(outcomes).toEqual([
        { kind: 'duplicate', message: first?.kind === 'stored' && first.message },
        { kind: 'closed' },
      ]);
    }
  });
});
