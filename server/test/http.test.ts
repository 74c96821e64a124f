import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers/harness.js';
import { TestClient } from './helpers/test-client.js';

let ts: TestServer | undefined;
afterEach(async () => {
  await ts?.stop();
  ts = undefined;
});

describe('HTTP endpoints on the same port', () => {
  it('healthz answers, readyz reflects the store, metrics count what happened', async () => {
    ts = await startServer();
    const s = await ts.seed();
    expect(await (await fetch(`${ts.httpUrl}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${ts.httpUrl}/readyz`);
    expect(ready.status).toBe(200);

    const c = await TestClient.connect(ts.url);
    await c.auth(s.patientToken);
    await c.join(s.conv);
    await c.sendText(s.conv, 'counted');
    c.send({ type: 'nonsense', id: 9 });
    await c.waitFor((f) => f.type === 'error');
    const res = await fetch(`${ts.httpUrl}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/^tc_connections 1$/m);
    expect(text).toMatch(/^tc_messages_committed_total 1$/m);
    expect(text).toMatch(/^tc_frames_in_total\{type="send"\} 1$/m);
    expect(text).toMatch(/^tc_errors_total\{code="UNKNOWN_TYPE"\} 1$/m);
    expect(text).toMatch(/^tc_commit_duration_seconds_count 1$/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    await c.close();

    // The store gone: not ready.
    await ts.server.store.close();
    const notReady = await fetch(`${ts.httpUrl}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({ status: 'unavailable' });
  });

  it('refuses WebSocket upgrades on other paths', async () => {
    ts = await startServer();
    await expect(TestClient.connect(ts.url.replace('/ws', '/other'))).rejects.toThrow(/404/);
  });
});
