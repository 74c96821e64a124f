/**
 * The headline guarantee: messages typed on both sides while the connections are cut over and over are each stored
 * once, delivered once to the other side, in the same order on both sides, and every `send()` resolves.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ChatMessage } from '@therapy-chat/protocol';
import type { ChatClient, Conversation, SendReceipt } from '../src/index.js';
import {
  Clients,
  cutAllConnections,
  record,
  sleep,
  startServer,
  waitUntil,
  type TestServer,
} from './helpers/sdk-harness.js';

const PER_SIDE = 1_000;
const clients = new Clients();
let ts: TestServer | undefined;

afterEach(async () => {
  await clients.closeAll();
  await ts?.stop();
});

/** Sends `count` numbered messages, a few at a time with small pauses, as a person typing in bursts would. */
async function typeMessages(conv: Conversation, side: string, count: number): Promise<Promise<SendReceipt>[]> {
  const sends: Promise<SendReceipt>[] = [];
  for (let i = 0; i < count; i++) {
    sends.push(conv.send(`${side} ${String(i).padStart(4, '0')}`));
    if (i % 25 === 24) await sleep(1);
  }
  return sends;
}

function assertExactlyOnceInOrder(seen: readonly ChatMessage[], total: number): void {
  expect(seen.map((m) => m.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  expect(new Set(seen.map((m) => m.clientMsgId)).size).toBe(total);
}

function ownOrder(seen: readonly ChatMessage[], side: string): string[] {
  return seen.filter((m) => m.text.startsWith(`${side} `)).map((m) => m.text);
}

describe('exactly once, in order, across repeated connection cuts', () => {
  it(`${PER_SIDE} messages from each side while the server drops every connection every ~150 ms`, async () => {
    ts = await startServer({ FRAMES_PER_SECOND: '5000', FRAME_BURST: '10000', LOG_LEVEL: 'warn' });
    const s = await ts.seed();
    const patient = clients.create({ url: ts.url, getToken: () => s.patientToken });
    const therapist = clients.create({ url: ts.url, getToken: () => s.therapistToken, codec: 'json' });
    const [pc, tc] = await Promise.all([patient.join(s.conv, { since: 0 }), therapist.join(s.conv, { since: 0 })]);
    const pSeen = record(pc);
    const tSeen = record(tc);

    let cuts = 0;
    let cutting = true;
    const chaos = (async () => {
      while (cutting) {
        await sleep(100 + Math.random() * 100);
        if (cutting && cutAllConnections(ts) > 0) cuts++;
      }
    })();

    const [pSends, tSends] = await Promise.all([
      typeMessages(pc, 'patient', PER_SIDE),
      typeMessages(tc, 'therapist', PER_SIDE),
    ]);
    const receipts = await Promise.all([...pSends, ...tSends]);
    cutting = false;
    await chaos;

    const total = 2 * PER_SIDE;
    await waitUntil(() => pSeen.length >= total && tSeen.length >= total, 20_000, 'every message on both sides');
    await sleep(200); // anything duplicated would arrive now

    // The test really cut: both clients went through many disconnects while messages were in flight.
    expect(cuts).toBeGreaterThanOrEqual(5);
    expect(patient.stats.drops).toBeGreaterThanOrEqual(5);
    expect(therapist.stats.drops).toBeGreaterThanOrEqual(5);
    // Some messages were in flight when their connection was cut, and went out again under the same clientMsgId.
    expect(patient.stats.resends + therapist.stats.resends).toBeGreaterThan(0);

    // Every send resolved, each with its own seq: the server stored each message once.
    expect(receipts).toHaveLength(total);
    expect(new Set(receipts.map((r) => r.seq)).size).toBe(total);
    expect(Math.max(...receipts.map((r) => r.seq))).toBe(total);

    // Both sides saw 1..2000 exactly once, in the same order, and each side's messages in the order typed.
    assertExactlyOnceInOrder(pSeen, total);
    assertExactlyOnceInOrder(tSeen, total);
    expect(tSeen.map((m) => m.clientMsgId)).toEqual(pSeen.map((m) => m.clientMsgId));
    const typed = (side: string) => Array.from({ length: PER_SIDE }, (_, i) => `${side} ${String(i).padStart(4, '0')}`);
    expect(ownOrder(tSeen, 'patient')).toEqual(typed('patient'));
    expect(ownOrder(pSeen, 'therapist')).toEqual(typed('therapist'));
    expect(pc.pending).toEqual([]);
    expect(tc.pending).toEqual([]);

    // And a fresh reader finds exactly those messages in the store.
    const reader: ChatClient = clients.create({ url: ts.url, getToken: () => s.therapistToken });
    const rc = await reader.join(s.conv);
    expect(rc.lastSeq).toBe(total);
  }, 60_000);
});
