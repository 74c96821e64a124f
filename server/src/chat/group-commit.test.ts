import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { Metrics } from '../metrics.js';
import type { AppendOutcome, AppendRequest, MessageSealer, Store, StoredMessage } from '../store/store.js';
import { GroupCommitter } from './group-commit.js';

const sealer: MessageSealer = {
  seal: (_c, _v, _s, text) => ({ keyId: 'k', ciphertext: Buffer.from(text) }),
  open: (m) => Buffer.from(m.ciphertext).toString(),
};

/** A store that stores everything, numbering each conversation's messages, and records its batch sizes. */
function fakeStore() {
  const batches: number[] = [];
  let seq = 0;
  const store = {
    append: (batch: readonly AppendRequest[]): Promise<AppendOutcome[]> => {
      batches.push(batch.length);
      return Promise.resolve(
        batch.map((r) => {
          const message: StoredMessage = { ...r, seq: ++seq, keyId: 'k', ciphertext: Buffer.from(r.text) };
          return { kind: 'stored', message };
        }),
      );
    },
  } as unknown as Store;
  return { store, batches };
}

const req = (i: number): AppendRequest => ({
  conv: 'cv',
  senderId: 'u',
  senderRole: 'patient',
  clientMsgId: `m${i}`,
  text: `text ${i}`,
  ts: 1,
});

const turn = () => new Promise((r) => setImmediate(r));

describe('GroupCommitter', () => {
  it('commits after a quiet spell on the next turn, and under a burst at most once per minIntervalMs', async () => {
    const { store, batches } = fakeStore();
    const committed: [number, string][] = [];
    const committer = new GroupCommitter({
      store,
      sealer,
      maxBatch: 100,
      minIntervalMs: 30,
      metrics: new Metrics(),
      log: createLogger('silent'),
      onCommitted: (messages, texts) => messages.forEach((m, i) => committed.push([m.seq, texts[i]!])),
    });
    const acks: number[] = [];
    const submit = (i: number) =>
      committer.submit(req(i), (err, o) => acks.push(o?.kind === 'stored' ? o.message.seq : -1));
    submit(0);
    await turn();
    expect(batches).toEqual([1]);
    for (let i = 1; i <= 4; i++) {
      submit(i);
      await turn();
    }
    expect(batches).toEqual([1]);
    await committer.drain();
    expect(batches).toEqual([1, 4]);
    expect(acks).toEqual([1, 2, 3, 4, 5]);
    expect(committed).toEqual([1, 2, 3, 4, 5].map((seq) => [seq, `text ${seq - 1}`]));
    await new Promise((r) => setTimeout(r, 40));
    submit(5);
    await turn();
    expect(batches).toEqual([1, 4, 1]);
  });
});
