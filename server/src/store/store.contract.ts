/**
 * The contract every Store implementation passes. Each implementation's test file calls `describeStoreContract`
 * with a factory for a fresh, migrated, empty store.
 */
import { randomBytes } from 'node:crypto';
import { beforeEach, afterEach, describe, expect, it } from 'vitest';
import { DataKeyRing } from '../crypto/data-keys.js';
import type { KeyProvider } from '../crypto/key-provider.js';
import { createUser, openCase, scheduleAppointment } from '../domain/care-setup.js';
import type { AppendRequest, MessageSealer, Store } from './store.js';

/** A key provider for tests: one random KEK in memory (the KEK itself is not what these tests are about). */
export function memoryKeyProvider(): KeyProvider {
  const kek = randomBytes(32);
  return {
    currentKekId: 'kek_test',
    wrap: async (_id, dek) => ({
      kekId: 'kek_test',
      wrapped: Buffer.concat([dek]).map((b, i) => b ^ kek[i]!) as Buffer,
    }),
    unwrap: async (_id, k) => Buffer.from(k.wrapped.map((b, i) => b ^ kek[i]!)),
  };
}

export function describeStoreContract(name: string, factory: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    let keys: DataKeyRing;
    let conv: string;
    let thread: string;
    let patientId: string;
    let caseId: string;

    const req = (over: Partial<AppendRequest> = {}): AppendRequest => ({
      conv,
      senderId: patientId,
      senderRole: 'patient',
      clientMsgId: `m-${randomBytes(4).toString('hex')}`,
      text: 'hello',
      ts: 1_700_000_000_000,
      ...over,
    });

    beforeEach(async () => {
      store = await factory();
      keys = new DataKeyRing(store, memoryKeyProvider());
      patientId = await createUser(store, 'patient');
      const therapistId = await createUser(store, 'therapist');
      ({ caseId, threadId: thread } = await openCase(store, keys, { patientId, therapistId }));
      conv = (await scheduleAppointment(store, caseId, { status: 'live' })).conversationId;
    });

    afterEach(async () => {
      await store.close();
    });

    it('describes a conversation with its case, participants and appointment', async () => {
      const info = await store.getConversation(conv);
      expect(info).toMatchObject({
        id: conv,
        kind: 'appointment',
        caseId,
        caseStatus: 'active',
        patientId,
        lastSeq: 0,
      });
      expect(info?.appointmentStatus).toBe('live');
      expect(await store.getConversation(thread)).toMatchObject({ kind: 'thread', appointmentId: null });
      expect(await store.getConversation('cv_nope')).toBeUndefined();
    });

    it('assigns gap-free seqs per conversation, in request order, across batches', async () => {
      const a = await store.append(
        [req({ text: 'one' }), req({ text: 'two' }), req({ conv: thread, text: 'x' })],
        keys,
      );
      const b = await store.append([req({ text: 'three' })], keys);
      const seqs = [...a, ...b].map((o) => (o.kind === 'stored' ? [o.message.conv === conv, o.message.seq] : o.kind));
      expect(seqs).toEqual([
        [true, 1],
        [true, 2],
        [false, 1],
        [true, 3],
      ]);
      expect((await store.getConversation(conv))?.lastSeq).toBe(3);
      const page = await store.messagesAfter(conv, 0, 10);
      expect(page.map((m) => [m.seq, keys.open(m)])).toEqual([
        [1, 'one'],
        [2, 'two'],
        [3, 'three'],
      ]);
    });

    it('stores ciphertext that opens only in its own place', async () => {
      const [o] = await store.append([req({ text: 'private words' })], keys);
      if (o?.kind !== 'stored') throw new Error('not stored');
      expect(Buffer.from(o.message.ciphertext).includes(Buffer.from('private words'))).toBe(false);
      expect(() => keys.open({ ...o.message, seq: 2 })).toThrow(/authentication failed/);
      expect(() => keys.open({ ...o.message, conv: thread })).toThrow(/authentication failed/);
    });

    it('returns the original for a duplicate clientMsgId, within a batch and across batches', async () => {
      const [first, sameBatch] = await store.append([req({ clientMsgId: 'dup' }), req({ clientMsgId: 'dup' })], keys);
      const [later] = await store.append([req({ clientMsgId: 'dup' })], keys);
      expect(first?.kind).toBe('stored');
      for (const o of [sameBatch, later]) {
        expect(o?.kind).toBe('duplicate');
        if (o?.kind === 'duplicate' && first?.kind === 'stored') expect(o.message).toEqual(first.message);
      }
      expect(await store.messagesAfter(conv, 0, 10)).toHaveLength(1);
    });

    it('refuses a reused clientMsgId with different text, and keeps the original', async () => {
      await store.append([req({ clientMsgId: 'k', text: 'original' })], keys);
      const [o] = await store.append([req({ clientMsgId: 'k', text: 'changed' })], keys);
      expect(o).toEqual({ kind: 'mismatch' });
      const [m] = await store.messagesAfter(conv, 0, 10);
      expect(keys.open(m!)).toBe('original');
    });

    it('appends nothing to an ended appointment or an unknown conversation', async () => {
      const info = await store.getConversation(conv);
      await store.setAppointmentStatus(info!.appointmentId!, 'ended', Date.now());
      expect(await store.append([req(), req({ conv: 'cv_missing' })], keys)).toEqual([
        { kind: 'closed' },
        { kind: 'not-found' },
      ]);
      expect(await store.messagesAfter(conv, 0, 10)).toHaveLength(0);
    });

    it('stores nothing of a batch when one message fails', async () => {
      const failing: MessageSealer = {
        seal: (c, cv, seq, text) => {
          if (text === 'boom') throw new Error('sealing failed');
          return keys.seal(c, cv, seq, text);
        },
        open: (m) => keys.open(m),
      };
      await expect(store.append([req({ text: 'fine' }), req({ text: 'boom' })], failing)).rejects.toThrow(
        'sealing failed',
      );
      expect(await store.messagesAfter(conv, 0, 10)).toHaveLength(0);
      expect((await store.getConversation(conv))?.lastSeq).toBe(0);
      const [o] = await store.append([req({ text: 'after' })], keys);
      expect(o?.kind === 'stored' && o.message.seq).toBe(1);
    });

    it('pages forwards after a seq and backwards before one', async () => {
      await store.append(
        Array.from({ length: 7 }, (_, i) => req({ text: `t${i + 1}` })),
        keys,
      );
      expect((await store.messagesAfter(conv, 2, 3)).map((m) => m.seq)).toEqual([3, 4, 5]);
      expect((await store.messagesBefore(conv, undefined, 3)).map((m) => m.seq)).toEqual([5, 6, 7]);
      expect((await store.messagesBefore(conv, 5, 10)).map((m) => m.seq)).toEqual([1, 2, 3, 4]);
      expect(await store.messagesAfter(conv, 7, 10)).toEqual([]);
    });

    it('keeps data keys wrapped, per case', async () => {
      const records = await store.dataKeysForCase(caseId);
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ caseId, kekId: 'kek_test' });
      const fresh = new DataKeyRing(store, memoryKeyProvider());
      await expect(fresh.ensure(caseId)).resolves.toBeUndefined();
    });
  });
}
