/**
 * The delivery cursor on its own, with a scripted host: the real server never leaves a gap on one connection, so the
 * gap-filling path is shown here, the way an app would see it (messages in order, each once).
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, type ChatMessage, type ServerFrame } from '@therapy-chat/protocol';
import { Conversation, type ConversationHost } from './conversation.js';
import { ChatError } from './errors.js';
import { MemoryOutbox } from './outbox-memory.js';

const msg = (seq: number): ChatMessage => ({
  conv: 'c1',
  seq,
  from: 'u-other',
  role: 'therapist',
  clientMsgId: `x${seq}`,
  text: `message ${seq}`,
  ts: 1_000 + seq,
});

function scripted(store: ChatMessage[]) {
  const requests: Record<string, unknown>[] = [];
  const host: ConversationHost = {
    connected: () => true,
    user: () => 'u-me',
    role: () => 'patient',
    limits: () => ({ ...DEFAULT_LIMITS, maxHistoryPage: 3 }),
    outbox: () => new MemoryOutbox(),
    requestTimeoutMs: () => 1_000,
    nextId: () => 1,
    nextOrder: () => 1,
    countResend: () => {},
    ready: () => Promise.resolve(),
    newClientMsgId: () => 'm1',
    write: () => {},
    emit: () => {},
    forget: () => {},
    dropConnection: () => {},
    request: <T extends { type: string }>(frame: Readonly<Record<string, unknown>>) =>
      new Promise<T>((resolve, reject) =>
        host.issue(frame, (o) => (o instanceof ChatError ? reject(o) : resolve(o as unknown as T))),
      ),
    issue: (frame, settle) => {
      requests.push({ ...frame });
      if (frame['type'] === 'join') return settle({ type: 'joined', id: 1, conv: 'c1', lastSeq: 2, closed: false });
      if (frame['type'] === 'history') {
        const before = frame['before'] as number;
        const limit = frame['limit'] as number;
        const messages = store.filter((m) => m.seq < before).slice(-limit);
        const reply: ServerFrame = {
          type: 'history',
          id: 1,
          conv: 'c1',
          messages,
          hasMore: (messages[0]?.seq ?? 1) > 1,
        };
        return void setTimeout(() => settle(reply), 5);
      }
    },
  };
  return { host, requests };
}

describe('delivery cursor', () => {
  it('fills a gap in live traffic from history, oldest page first, then delivers what was held, each once', async () => {
    const store = Array.from({ length: 12 }, (_, i) => msg(i + 1));
    const { host, requests } = scripted(store);
    const c = new Conversation('c1', host, 2, [], (e) => {
      throw e;
    });
    const delivered: number[] = [];
    c.on('message', (e) => delivered.push(e.message.seq));
    c.onConnected();
    await c.ready;
    c.onMessage(msg(3));
    c.onMessage(msg(3)); // duplicate
    c.onMessage(msg(10)); // 4..9 missing
    c.onMessage(msg(12)); // 11 missing too
    c.onMessage(msg(11));
    await new Promise((r) => setTimeout(r, 100));
    expect(delivered).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(c.lastSeq).toBe(12);
    expect(requests.filter((r) => r['type'] === 'history').map((r) => [r['before'], r['limit']])).toEqual([
      [7, 3],
      [10, 3],
    ]);
  });

  it('drops anything at or below the cursor (replays after a rejoin)', async () => {
    const { host } = scripted([]);
    const c = new Conversation('c1', host, 0, [], () => {});
    const delivered: number[] = [];
    c.on('message', (e) => delivered.push(e.message.seq));
    c.onConnected();
    await c.ready;
    for (const seq of [1, 2, 1, 2, 3, 2, 3]) c.onMessage(msg(seq));
    expect(delivered).toEqual([1, 2, 3]);
  });
});
