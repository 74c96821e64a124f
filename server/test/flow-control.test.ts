/** Slow consumers, shedding of ephemeral frames, and heartbeats. */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { msgpackCodec, MSGPACK_SUBPROTOCOL, type ServerFrame } from '@therapy-chat/protocol';
import { startServer, type TestServer } from './helpers/harness.js';
import { TestClient } from './helpers/test-client.js';

const servers: TestServer[] = [];
const clients: TestClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const ts of servers.splice(0)) await ts.stop();
});

async function connect(ts: TestServer, token: string, conv: string, since?: number) {
  const c = await TestClient.connect(ts.url);
  clients.push(c);
  await c.auth(token);
  await c.join(conv, since);
  return c;
}

/** The value of a metric line; `name` is a regular expression (escape label braces). */
function metric(text: string, name: string): number {
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? '0');
}

describe('a slow consumer', () => {
  it('has typing shed first, is then cut with 4200, resumes with since, and does not slow the others', async () => {
    const ts = await startServer({
      FRAMES_PER_SECOND: '100000',
      FRAME_BURST: '100000',
      MAX_TEXT_LENGTH: '16000',
      MAX_OUTBOUND_BYTES: '1048576',
    });
    servers.push(ts);
    const s = await ts.seed();
    const slow = await connect(ts, s.patientToken, s.conv);
    const fast = await connect(ts, s.patientToken, s.conv);
    const therapist = await connect(ts, s.therapistToken, s.conv);
    // The slow client stops reading: its socket buffers fill, then the server's outbound queue grows.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();

    const text = 'x'.repeat(16_000);
    let sent = 0;
    // Small steps, so the queue grows gradually and typing frames meet it between the shedding mark and the cap.
    // The paused client cannot see its own close, so watch the server's count of slow-consumer closes.
    const slowClosures = async () =>
      metric(await (await fetch(`${ts.httpUrl}/metrics`)).text(), 'tc_errors_total\\{code="SLOW_CONSUMER"\\}');
    while (sent < 2_000) {
      therapist.send({ type: 'typing', conv: s.conv, active: sent % 2 === 0 });
      await Promise.all(Array.from({ length: 4 }, () => therapist.sendText(s.conv, text)));
      sent += 4;
      if (sent % 40 === 0 && (await slowClosures()) > 0) break;
    }
    expect(await slowClosures()).toBe(1);
    // Resume reading so the close frame can be seen.
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const closed = await slow.closed;
    expect(closed.code).toBe(4200);
    const m = await (await fetch(`${ts.httpUrl}/metrics`)).text();
    expect(metric(m, 'tc_frames_shed_total')).toBeGreaterThan(0);

    // The fast client got every message, in order.
    await fast.waitForSeq(s.conv, sent, 10_000);
    expect(fast.messages(s.conv).map((f) => f.seq)).toEqual(Array.from({ length: sent }, (_, i) => i + 1));

    // The slow client reconnects with since and gets the rest, once each.
    const had = slow.messages(s.conv);
    const last = had.length > 0 ? had[had.length - 1]!.seq : 0;
    expect(had.map((f) => f.seq)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    const again = await connect(ts, s.patientToken, s.conv, last);
    await again.waitForSeq(s.conv, sent, 10_000);
    expect(again.messages(s.conv).map((f) => f.seq)).toEqual(
      Array.from({ length: sent - last }, (_, i) => last + i + 1),
    );
  });
});

describe('heartbeats', () => {
  it('close a peer that stops answering with 4201, and keep one that answers', async () => {
    const ts = await startServer({ HEARTBEAT_INTERVAL_MS: '150' });
    servers.push(ts);
    const s = await ts.seed();
    const alive = await connect(ts, s.therapistToken, s.conv);

    // A raw client that authenticates and then never says anything again, not even pong.
    const silent = new WebSocket(ts.url, MSGPACK_SUBPROTOCOL);
    const pings: ServerFrame[] = [];
    silent.on('message', (data: Buffer) => pings.push(msgpackCodec.decode(new Uint8Array(data)) as ServerFrame));
    await new Promise((r) => silent.once('open', r));
    silent.send(msgpackCodec.encode({ type: 'auth', token: s.patientToken }));
    const code = await new Promise<number>((resolve) => silent.once('close', (c: number) => resolve(c)));
    expect(code).toBe(4201);
    expect(pings.filter((f) => f.type === 'ping').length).toBeGreaterThan(0);
    expect(alive.isClosed).toBe(false);
    expect(alive.frames.filter((f) => f.type === 'ping').length).toBeGreaterThan(1);
  });
});
