/**
 * The server as operators run it: a separate process, killed with SIGKILL, stopped with SIGTERM, started with a
 * bad config. Uses the built server (`npm test` builds first).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AckFrame, ErrorFrame } from '@therapy-chat/protocol';
import { REPO_ROOT, seedOffline, spawnServer, tempDataDir, type ChildServer } from './helpers/harness.js';
import { TestClient } from './helpers/test-client.js';

const children: ChildServer[] = [];
const clients: TestClient[] = [];
const FAST = { FRAMES_PER_SECOND: '5000', FRAME_BURST: '5000' };

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const child of children.splice(0)) {
    child.child.kill('SIGKILL');
    await child.exited;
  }
});

async function start(dataDir: string, port = 0) {
  const child = await spawnServer(dataDir, FAST, port);
  children.push(child);
  return child;
}

async function connect(url: string, token: string, conv: string, since?: number) {
  const c = await TestClient.connect(url);
  clients.push(c);
  expect((await c.auth(token)).type).toBe('welcome');
  expect((await c.join(conv, since)).type).toBe('joined');
  return c;
}

describe('crash safety', () => {
  it('every acknowledged message survives kill -9 and a restart', async () => {
    const dataDir = tempDataDir();
    const s = await seedOffline(dataDir);
    const first = await start(dataDir);
    const patient = await connect(first.url, s.patientToken, s.conv);
    // Keep sending without waiting, and kill the server the moment the 150th ack is in.
    const acked = new Map<string, number>();
    const pending: Promise<unknown>[] = [];
    let killed = false;
    for (let i = 0; i < 400; i++) {
      const id = `crash-${i}`;
      pending.push(
        patient.sendText(s.conv, `message ${i}`, id).then(
          (reply) => {
            if (reply.type === 'ack') acked.set(id, reply.seq);
            if (acked.size >= 150 && !killed) {
              killed = true;
              first.child.kill('SIGKILL');
            }
          },
          () => undefined,
        ),
      );
    }
    await first.exited;
    await Promise.allSettled(pending);
    expect(acked.size).toBeGreaterThanOrEqual(150);

    const second = await start(dataDir);
    const reader = await connect(second.url, s.therapistToken, s.conv, 0);
    const lastAcked = Math.max(...acked.values());
    await reader.waitForSeq(s.conv, lastAcked, 10_000);
    const stored = new Map(reader.messages(s.conv).map((m) => [m.clientMsgId, m]));
    for (const [id, seq] of acked) {
      expect(stored.get(id)?.seq).toBe(seq);
      expect(stored.get(id)?.text).toBe(`message ${id.slice('crash-'.length)}`);
    }
    // And the stored seqs are still gap-free.
    const seqs = reader.messages(s.conv).map((m) => m.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
  });
});

describe('graceful shutdown on SIGTERM', () => {
  it('finishes in-flight commits, closes sockets with 1001, and exits 0; nothing acked is lost', async () => {
    const dataDir = tempDataDir();
    const s = await seedOffline(dataDir);
    const first = await start(dataDir);
    const patient = await connect(first.url, s.patientToken, s.conv);
    const replies: Promise<AckFrame | ErrorFrame>[] = [];
    for (let i = 0; i < 300; i++)
      replies.push(patient.sendText(s.conv, `term ${i}`, `term-${i}`).catch(() => ({ type: 'error' }) as ErrorFrame));
    await new Promise((r) => setTimeout(r, 5));
    first.child.kill('SIGTERM');
    const closed = await patient.closed;
    expect(closed.code).toBe(1001);
    expect(await first.exited).toEqual({ code: 0, signal: null });
    const settled = await Promise.all(replies);
    const acked = settled.filter((r): r is AckFrame => r.type === 'ack');
    expect(acked.length).toBeGreaterThan(0);
    const refused = settled.filter((r) => r.type === 'error' && 'code' in r && r.code);
    for (const r of refused) expect((r as ErrorFrame).code).toBe('SHUTTING_DOWN');

    const second = await start(dataDir);
    const reader = await connect(second.url, s.therapistToken, s.conv, 0);
    if (acked.length > 0) await reader.waitForSeq(s.conv, Math.max(...acked.map((a) => a.seq)));
    const stored = new Set(reader.messages(s.conv).map((m) => m.clientMsgId));
    for (const a of acked) expect(stored.has(a.clientMsgId)).toBe(true);
  });
});

describe('configuration errors', () => {
  const entry = path.join(REPO_ROOT, 'server/dist/cli/start.js');
  const run = (env: Record<string, string>) =>
    spawnSync(process.execPath, [entry], {
      env: { ...process.env, DATA_DIR: tempDataDir(), ...env },
      encoding: 'utf8',
      timeout: 10_000,
    });

  it.each([
    ['PORT', 'eighty', /PORT="eighty" is invalid/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL="loud" is invalid/],
    ['MAX_TEXT_LENGTH', '100000', /MAX_TEXT_LENGTH=100000 does not fit in MAX_FRAME_BYTES/],
    ['DATABASE_URL', 'mysql://db/x', /DATABASE_URL has scheme mysql: but must be postgres: or postgresql:/],
    ['REDIS_SHARDED', 'yes', /REDIS_SHARDED="yes" is invalid: expected true or false/],
  ])('%s=%s stops the server with a message naming the variable', (name, value, message) => {
    const res = run({ [name]: value });
    expect(res.status).toBe(78);
    expect(res.stderr).toMatch(message);
  });
});
