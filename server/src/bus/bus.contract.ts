/** The contract every Bus implementation passes. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NODE_CHANNEL, type Bus, type BusEvent } from './bus.js';

const message = (conv: string, seq: number): BusEvent => ({
  kind: 'message',
  message: {
    conv,
    seq,
    senderId: 'u_a',
    senderRole: 'patient',
    clientMsgId: `m${seq}`,
    keyId: 'dek_x',
    ciphertext: new Uint8Array([1, 2, 3, seq]),
    ts: 1_700_000_000_000 + seq,
  },
});

/** Waits until `cond` holds, polling; buses across processes deliver asynchronously. */
async function eventually(cond: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

export function describeBusContract(name: string, factory: () => Promise<Bus>): void {
  describe(`Bus contract: ${name}`, () => {
    let bus: Bus;
    beforeEach(async () => {
      bus = await factory();
    });
    afterEach(async () => {
      await bus.close();
    });

    it('delivers to subscribers of the conversation only, in publish order', async () => {
      const got: [string, BusEvent][] = [];
      const other: BusEvent[] = [];
      await bus.subscribe('cv_a', (c, e) => got.push([c, e]));
      await bus.subscribe('cv_b', (_c, e) => other.push(e));
      for (let i = 1; i <= 5; i++) bus.publish('cv_a', message('cv_a', i));
      await eventually(() => got.length === 5);
      expect(got.map(([c, e]) => [c, e.kind === 'message' && e.message.seq])).toEqual(
        [1, 2, 3, 4, 5].map((s) => ['cv_a', s]),
      );
      expect(other).toEqual([]);
      const first = got[0]![1];
      expect(first.kind === 'message' && Buffer.from(first.message.ciphertext)).toEqual(Buffer.from([1, 2, 3, 1]));
    });

    it('stops delivering after unsubscribe, and keeps other handlers', async () => {
      const a: BusEvent[] = [];
      const b: BusEvent[] = [];
      const ha = (_c: string, e: BusEvent) => a.push(e);
      await bus.subscribe('cv_a', ha);
      await bus.subscribe('cv_a', (_c, e) => b.push(e));
      await bus.unsubscribe('cv_a', ha);
      bus.publish('cv_a', { kind: 'typing', conv: 'cv_a', user: 'u_a', role: 'patient', active: true, origin: 'c_1' });
      await eventually(() => b.length === 1);
      expect(a).toEqual([]);
      expect(b[0]).toEqual({ kind: 'typing', conv: 'cv_a', user: 'u_a', role: 'patient', active: true, origin: 'c_1' });
    });

    it('carries node-wide access changes on the node channel, apart from conversations', async () => {
      const node: [string, BusEvent][] = [];
      const conv: BusEvent[] = [];
      await bus.subscribe(NODE_CHANNEL, (c, e) => node.push([c, e]));
      await bus.subscribe('cv_a', (_c, e) => conv.push(e));
      bus.publish(NODE_CHANNEL, { kind: 'access-changed', caseId: 'C-7K3M-92QD' });
      await eventually(() => node.length === 1);
      expect(node[0]).toEqual([NODE_CHANNEL, { kind: 'access-changed', caseId: 'C-7K3M-92QD' }]);
      expect(conv).toEqual([]);
    });

    it('publishing to a conversation nobody follows is harmless', async () => {
      expect(() => bus.publish('cv_none', message('cv_none', 1))).not.toThrow();
    });
  });
}
