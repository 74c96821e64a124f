/**
 * What a patient on a bad phone, or a therapist whose session outlives a token, would notice: nothing. And what a
 * developer with a wrong token or a wrong conversation id would notice: a clear error, once, and no retry storm.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ChatError, type ErrorEvent, type SendReceipt } from '../src/index.js';
import {
  Clients,
  mintToken,
  record,
  seedOffline,
  serverConnectionCount,
  sleep,
  spawnServer,
  startServer,
  TcpProxy,
  tempDataDir,
  waitUntil,
  type TestServer,
} from './helpers/sdk-harness.js';

const clients = new Clients();
const cleanups: (() => Promise<unknown> | void)[] = [];

afterEach(async () => {
  await clients.closeAll();
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function inProcessServer(env: Record<string, string> = {}): Promise<TestServer> {
  const ts = await startServer({ LOG_LEVEL: 'warn', ...env });
  cleanups.push(() => ts.stop());
  return ts;
}

describe('server crashes', () => {
  it('kill -9 of the server mid-conversation, twice: every message stored and delivered once, in order', async () => {
    const dataDir = tempDataDir();
    const s = await seedOffline(dataDir);
    const env = { FRAMES_PER_SECOND: '5000', FRAME_BURST: '10000', LOG_LEVEL: 'info' }; // `info`: the harness waits for 'listening'
    let server = await spawnServer(dataDir, env);
    const port = server.port;
    cleanups.push(() => void server.child.kill('SIGKILL'));
    const url = `ws://127.0.0.1:${port}/ws`;
    const patient = clients.create({ url, getToken: () => s.patientToken });
    const therapist = clients.create({ url, getToken: () => s.therapistToken });
    const [pc, tc] = await Promise.all([patient.join(s.conv, { since: 0 }), therapist.join(s.conv, { since: 0 })]);
    const pSeen = record(pc);
    const tSeen = record(tc);

    const PER_SIDE = 150;
    const sends: Promise<SendReceipt>[] = [];
    const crashes = (async () => {
      for (let k = 0; k < 2; k++) {
        await waitUntil(() => pSeen.length >= (k + 1) * 60, 20_000, `traffic before crash ${k + 1}`);
        server.child.kill('SIGKILL');
        await server.exited;
        await sleep(150); // the phones notice, and back off
        server = await spawnServer(dataDir, env, port);
      }
    })();
    for (let i = 0; i < PER_SIDE; i++) {
      sends.push(pc.send(`patient ${i}`), tc.send(`therapist ${i}`));
      await sleep(i % 10 === 0 ? 20 : 2);
    }
    await crashes;
    const receipts = await Promise.all(sends);
    const total = 2 * PER_SIDE;
    await waitUntil(() => pSeen.length >= total && tSeen.length >= total, 20_000, 'every message on both sides');
    await sleep(100);

    expect(patient.stats.drops).toBeGreaterThanOrEqual(2);
    expect(new Set(receipts.map((r) => r.seq)).size).toBe(total);
    for (const seen of [pSeen, tSeen])
      expect(seen.map((m) => m.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(tSeen.map((m) => m.clientMsgId)).toEqual(pSeen.map((m) => m.clientMsgId));
    const order = (side: string) => tSeen.filter((m) => m.text.startsWith(side)).map((m) => m.text);
    expect(order('patient')).toEqual(Array.from({ length: PER_SIDE }, (_, i) => `patient ${i}`));
    expect(order('therapist')).toEqual(Array.from({ length: PER_SIDE }, (_, i) => `therapist ${i}`));
  }, 60_000);
});

describe('tokens that expire during a session', () => {
  it('refreshes the token through getToken() before it expires, on the same connection, without losing a message', async () => {
    const ts = await inProcessServer();
    const s = await ts.seed();
    let minted = 0;
    const patient = clients.create({
      url: ts.url,
      getToken: () => (minted++, mintToken(ts.dataDir, s.patientId, 'patient', { ttlSeconds: 2 })),
    });
    const therapist = clients.create({ url: ts.url, getToken: () => s.therapistToken });
    const [pc, tc] = await Promise.all([patient.join(s.conv), therapist.join(s.conv)]);
    const tSeen = record(tc);
    const firstExpiry = patient.session!.expiresAt;

    const sends: Promise<SendReceipt>[] = [];
    for (let i = 0; i < 70; i++) {
      sends.push(pc.send(`still here ${i}`));
      await sleep(50);
    }
    await Promise.all(sends);
    await waitUntil(() => tSeen.length === 70);

    expect(minted).toBeGreaterThanOrEqual(3); // the first token and at least two refreshes
    expect(patient.session!.expiresAt).toBeGreaterThan(firstExpiry);
    expect(patient.stats.drops).toBe(0); // never disconnected: the refresh happened in place
    expect(patient.states.map((e) => e.current)).toEqual(['connecting', 'connected']);
    expect(tSeen.map((m) => m.text)).toEqual(Array.from({ length: 70 }, (_, i) => `still here ${i}`));
  }, 20_000);

  it('when the server closes with 4101 (token expired), gets a new token, reconnects and resumes', async () => {
    const ts = await inProcessServer();
    const s = await ts.seed();
    // A backend that is slow to rotate: the refresh before expiry gets the same token back, so the server closes
    // the connection at expiry; the next call returns a fresh token.
    const first = await mintToken(ts.dataDir, s.patientId, 'patient', { ttlSeconds: 2 });
    let calls = 0;
    const patient = clients.create({
      url: ts.url,
      getToken: async () =>
        ++calls <= 2 ? first : mintToken(ts.dataDir, s.patientId, 'patient', { ttlSeconds: 3600 }),
    });
    const errors: ErrorEvent[] = [];
    patient.on('error', (e) => errors.push(e));
    const therapist = clients.create({ url: ts.url, getToken: () => s.therapistToken });
    const [pc, tc] = await Promise.all([patient.join(s.conv), therapist.join(s.conv)]);
    const pSeen = record(pc);
    const tSeen = record(tc);

    const sends: Promise<SendReceipt>[] = [];
    for (let i = 0; i < 40; i++) {
      sends.push(pc.send(`patient ${i}`));
      if (i % 2 === 0) void tc.send(`therapist ${i}`);
      await sleep(100);
    }
    await Promise.all(sends);
    await waitUntil(() => tSeen.length === 60 && pSeen.length === 60, 10_000, 'all 60 messages on both sides');

    const expiredClose = patient.states.find((e) => e.closeCode === 4101);
    expect(expiredClose).toMatchObject({ previous: 'connected', current: 'disconnected' });
    expect(patient.state).toBe('connected');
    expect(calls).toBe(3);
    expect(errors.map((e) => e.error.code)).toContain('TOKEN_EXPIRED');
    expect(pSeen.map((m) => m.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(tSeen.filter((m) => m.from === s.patientId).map((m) => m.text)).toEqual(
      Array.from({ length: 40 }, (_, i) => `patient ${i}`),
    );
  }, 20_000);
});

describe('refusals: a clear error, once, and no reconnect loop', () => {
  it('a forbidden conversation rejects its join and its sends with FORBIDDEN; the connection stays up', async () => {
    const ts = await inProcessServer();
    const mine = await ts.seed();
    const someoneElses = await ts.seed();
    const patient = clients.create({ url: ts.url, getToken: () => mine.patientToken });
    const errors: ErrorEvent[] = [];
    patient.on('error', (e) => errors.push(e));

    const forbidden = patient.conversation(someoneElses.conv);
    const queued = forbidden.send('this must not be stored');
    await expect(forbidden.ready).rejects.toMatchObject({
      code: 'FORBIDDEN',
      category: 'access',
      conv: someoneElses.conv,
    });
    await expect(queued).rejects.toBeInstanceOf(ChatError);
    await expect(queued).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(patient.join(someoneElses.conv)).rejects.toMatchObject({ code: 'FORBIDDEN' });

    await sleep(500);
    expect(patient.state).toBe('connected');
    expect(patient.stats).toMatchObject({ connects: 1, drops: 0 });
    expect(serverConnectionCount(ts)).toBe(1);
    expect(errors.filter((e) => e.error.code === 'FORBIDDEN').length).toBe(2);

    // The same connection still works for the conversation the patient belongs to, and nothing leaked.
    const own = await patient.join(mine.conv);
    expect((await own.send('hello')).seq).toBe(1);
    const reader = clients.create({ url: ts.url, getToken: () => someoneElses.therapistToken });
    expect((await reader.join(someoneElses.conv)).lastSeq).toBe(0);
  });

  it('an invalid token closes the client with INVALID_TOKEN after one attempt', async () => {
    const ts = await inProcessServer();
    await ts.seed();
    let calls = 0;
    const client = clients.create({ url: ts.url, getToken: () => (calls++, 'not-a-jwt') });
    const err = await client.connect().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INVALID_TOKEN', closeCode: 4001 });
    await sleep(300);
    expect(client.state).toBe('closed');
    expect(client.states.map((e) => e.current)).toEqual(['connecting', 'closed']);
    expect(client.states[1]).toMatchObject({ closeCode: 4001, error: { code: 'INVALID_TOKEN' } });
    expect(calls).toBe(1);
    await expect(client.connect()).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
  });
});

describe('a phone that loses its signal', () => {
  it('detects a dead connection from missed heartbeats, reconnects, and delivers what was sent meanwhile once', async () => {
    const ts = await inProcessServer({ HEARTBEAT_INTERVAL_MS: '200' });
    const s = await ts.seed();
    const proxy = await TcpProxy.start(ts.url);
    cleanups.push(() => proxy.stop());
    const patient = clients.create({ url: proxy.url, getToken: () => s.patientToken, heartbeat: { graceMs: 100 } });
    const therapist = clients.create({ url: ts.url, getToken: () => s.therapistToken });
    const [pc, tc] = await Promise.all([patient.join(s.conv), therapist.join(s.conv)]);
    const pSeen = record(pc);
    const tSeen = record(tc);
    await pc.send('before the tunnel');

    proxy.blackhole(); // no close, no error: only silence
    const lost = Date.now();
    const fromPatient = pc.send('typed in the tunnel');
    const fromTherapist = await tc.send('are you there?');
    await waitUntil(() => patient.states.some((e) => e.current === 'disconnected'), 3_000, 'the patient to notice');
    const noticedAfter = Date.now() - lost;
    const drop = patient.states.find((e) => e.current === 'disconnected')!;
    expect(drop.reason).toMatch(/nothing heard/);
    expect(noticedAfter).toBeLessThan(2_000); // 2 heartbeats + grace is 500 ms; TCP alone would take minutes

    await fromPatient;
    await waitUntil(() => pSeen.length === 3 && tSeen.length === 3, 5_000, 'both sides caught up');
    expect(pSeen.map((m) => m.text)).toEqual(['before the tunnel', 'are you there?', 'typed in the tunnel']);
    expect(pSeen.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(tSeen.map((m) => m.clientMsgId)).toEqual(pSeen.map((m) => m.clientMsgId));
    expect(fromTherapist.seq).toBe(2);
  });

  it('respects RATE_LIMITED: with pacing off it is told to slow down, waits, and still sends each message once, in order', async () => {
    const ts = await inProcessServer(); // default limits: 20 frames/s, burst 40
    const s = await ts.seed();
    const patient = clients.create({ url: ts.url, getToken: () => s.patientToken, pace: false });
    const therapist = clients.create({ url: ts.url, getToken: () => s.therapistToken });
    const [pc, tc] = await Promise.all([patient.join(s.conv), therapist.join(s.conv)]);
    const tSeen = record(tc);
    const receipts = await Promise.all(Array.from({ length: 70 }, (_, i) => pc.send(`quick ${i}`)));
    await waitUntil(() => tSeen.length === 70);
    expect(patient.stats.rateLimited).toBeGreaterThan(0);
    expect(patient.stats.drops).toBe(0); // slowed down in time: never closed for flooding
    expect(receipts.map((r) => r.seq)).toEqual(Array.from({ length: 70 }, (_, i) => i + 1));
    expect(tSeen.map((m) => m.text)).toEqual(Array.from({ length: 70 }, (_, i) => `quick ${i}`));
  });

  it('with pacing on (the default) stays under the rate limit and is never told RATE_LIMITED', async () => {
    const ts = await inProcessServer();
    const s = await ts.seed();
    const patient = clients.create({ url: ts.url, getToken: () => s.patientToken });
    const pc = await patient.join(s.conv);
    const receipts = await Promise.all(Array.from({ length: 50 }, (_, i) => pc.send(`paced ${i}`)));
    expect(receipts.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(patient.stats.rateLimited).toBe(0);
  });
});
