/** An hour without user activity closes the connection (4004); heartbeats do not count. On a fake clock. */
import { afterEach, describe, expect, it } from 'vitest';
import { mintToken, startServer, type TestServer } from './helpers/harness.js';
import { TestClient } from './helpers/test-client.js';

let ts: TestServer | undefined;
afterEach(async () => {
  await ts?.stop();
  ts = undefined;
});

const HOUR = 3_600_000;

/** Lets the server's sweep (every 100 ms here) run a few times on real time. */
const sweeps = () => new Promise((r) => setTimeout(r, 450));

describe('session idle timeout', () => {
  it('keeps a connection at 59:59 without user activity, despite heartbeats, and closes it at 60:00', async () => {
    let now = Date.UTC(2026, 10, 23, 9, 0, 0);
    ts = await startServer({ HEARTBEAT_INTERVAL_MS: '100' }, { now: () => now });
    const s = await ts.seed();
    const token = await mintToken(ts.dataDir, s.patientId, 'patient', { ttlSeconds: 3 * 3600 });
    const c = await TestClient.connect(ts.url);
    await c.auth(token);
    await c.join(s.conv); // the last user action, at 09:00:00
    // Heartbeats keep flowing (the test client answers every ping) but are not activity.
    now += HOUR - 1000;
    await sweeps();
    expect(c.isClosed).toBe(false);
    expect(c.frames.filter((f) => f.type === 'ping').length).toBeGreaterThan(2);
    now += 1000;
    const closed = await c.closed;
    expect(closed.code).toBe(4004);
  });

  it('counts a send as activity: the hour starts again', async () => {
    let now = Date.UTC(2026, 10, 23, 9, 0, 0);
    ts = await startServer({ HEARTBEAT_INTERVAL_MS: '100' }, { now: () => now });
    const s = await ts.seed();
    const token = await mintToken(ts.dataDir, s.patientId, 'patient', { ttlSeconds: 3 * 3600 });
    const c = await TestClient.connect(ts.url);
    await c.auth(token);
    await c.join(s.conv);
    now += HOUR - 1000;
    expect((await c.sendText(s.conv, 'still here')).type).toBe('ack');
    now += HOUR - 1000;
    await sweeps();
    expect(c.isClosed).toBe(false);
    // A token refresh is the app, not the user: it does not reset the hour either.
    const fresh = await mintToken(ts.dataDir, s.patientId, 'patient', { ttlSeconds: 3 * 3600 });
    await c.auth(fresh);
    now += 1000;
    expect((await c.closed).code).toBe(4004);
  });
});
