/**
 * KEK rotation without downtime. The embedded default keeps its KEKs in DATA_DIR/kek.json, so the honest test is the
 * operator's: `npm run keys:rotate` (the built CLI, its own process) against the data directory of a server that is
 * running and taking traffic. The server never restarts: it unwraps with either KEK while rows are re-wrapped, and
 * re-reads the key file by itself. Then a restarted server reads everything with the new key file alone.
 * The rotation's SQL also runs on PostgreSQL, in-process.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { JoinedFrame } from '@therapy-chat/protocol';
import { readIdentity, writeIdentity } from '../src/accounts/identity.js';
import { AuditWriter } from '../src/audit/audit-writer.js';
import { MemoryAuditSink } from '../src/audit/memory-audit-sink.js';
import { DataKeyRing } from '../src/crypto/data-keys.js';
import { FileKeyProvider, KEY_FILE_NAME } from '../src/crypto/file-key-provider.js';
import { rotateKek } from '../src/crypto/kek-rotation.js';
import { createUser, openCase } from '../src/domain/care-setup.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import type { Store } from '../src/store/store.js';
import { REPO_ROOT, startServer, tempDataDir, type Session, type TestServer } from './helpers/harness.js';
import { postgres } from './helpers/services.js';
import { storeFactories } from './helpers/stores.js';
import { TestClient } from './helpers/test-client.js';

const pg = await postgres();
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const drop of drops) await drop();
});

let servers: TestServer[] = [];
const clients: TestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const s of servers.splice(0)) await s.stop();
});

function keyFile(dataDir: string): { current: string; keys: { id: string }[] } {
  return JSON.parse(fs.readFileSync(path.join(dataDir, KEY_FILE_NAME), 'utf8')) as {
    current: string;
    keys: { id: string }[];
  };
}

async function kekIdsInUse(store: Store): Promise<string[]> {
  const ids = new Set<string>();
  for (const table of ['data_keys', 'user_keys'] as const) {
    for (const r of await store.kysely.selectFrom(table).select('kek_id').execute()) ids.add(r.kek_id);
  }
  return [...ids];
}

/** Runs the built `keys:rotate` CLI against `dataDir`; resolves with its exit code and output. */
function rotateCli(dataDir: string, ...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const entry = path.join(REPO_ROOT, 'server/dist/cli/rotate-kek.js');
  if (!fs.existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first (npm test does)`);
  const child = spawn(process.execPath, [entry, ...args], {
    env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    }),
  );
}

describe('npm run keys:rotate while the server takes traffic (SQLite, key file)', () => {
  it('loses no send, re-wraps every key under the new KEK, retires the old one, and a restart reads everything', async () => {
    const dataDir = tempDataDir();
    const provider = FileKeyProvider.openOrCreate(dataDir);
    // Sends go as fast as acks come back: lift the per-connection frame rate limit, which is not under test here.
    const ts = await startServer(
      { FRAMES_PER_SECOND: '10000', FRAME_BURST: '10000' },
      { keyProvider: provider },
      dataDir,
    );
    servers.push(ts);
    const oldKek = provider.currentKekId;
    const idDeps = { db: ts.server.store.kysely, provider };

    // Enough wrapped keys that the re-wrap takes many batches: cases with sessions, and users with sealed identities.
    const sessions: Session[] = [];
    for (let i = 0; i < 4; i++) sessions.push(await ts.seed());
    const extraCases = [];
    for (let i = 0; i < 30; i++) {
      const patientId = await createUser(ts.server.store, 'patient');
      await writeIdentity(idDeps, patientId, { name: `Test Patient ${i}`, email: `patient${i}@example.invalid` });
      extraCases.push(
        await openCase(ts.server.store, ts.server.keys, { patientId, therapistId: sessions[0]!.therapistId }),
      );
    }

    // Every patient sends, ack after ack, until the rotation is over.
    const sent = new Map<string, string[]>();
    const failures: unknown[] = [];
    let rotating = true;
    const senders = sessions.map(async (s, i) => {
      const c = await TestClient.connect(ts.url);
      clients.push(c);
      await c.auth(s.patientToken);
      await c.join(s.conv);
      const texts: string[] = [];
      sent.set(s.conv, texts);
      for (let n = 0; rotating || n < 5; n++) {
        const text = `fictional line ${n} from patient ${i}`;
        const ack = await c.sendText(s.conv, text);
        if (ack.type !== 'ack') failures.push(ack);
        else texts.push(text);
      }
    });
    // Meanwhile, cases are opened (new keys wrapped) and keys loaded afresh (unwrapped), as new traffic would.
    const opened: string[] = [];
    const churn = (async () => {
      while (rotating) {
        const patientId = await createUser(ts.server.store, 'patient');
        const { caseId } = await openCase(ts.server.store, ts.server.keys, {
          patientId,
          therapistId: sessions[0]!.therapistId,
        });
        opened.push(caseId);
        const fresh = new DataKeyRing(ts.server.store, provider);
        for (const c of [...extraCases.slice(0, 5).map((e) => e.caseId), caseId]) await fresh.ensure(c);
        expect(await readIdentity(idDeps, patientId)).toBeUndefined();
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    const rotation = await rotateCli(dataDir, '--batch-size', '3', '--settle-ms', '300');
    rotating = false;
    await Promise.all([...senders, churn]);

    expect(rotation.err).toBe('');
    expect(rotation.code, rotation.out).toBe(0);
    const file = keyFile(dataDir);
    expect(file.current).not.toBe(oldKek);
    expect(file.keys.map((k) => k.id)).toEqual([file.current]); // the old KEK is retired
    expect(rotation.out).toContain(`new current KEK: ${file.current}`);
    expect(rotation.out).toContain(`retired KEKs: ${oldKek}`);
    expect(failures).toEqual([]);
    expect(opened.length).toBeGreaterThan(0);
    for (const texts of sent.values()) expect(texts.length).toBeGreaterThan(5);
    console.log(
      'sends',
      [...sent.values()].map((t) => t.length),
      'opened',
      opened.length,
    );
    expect(await kekIdsInUse(ts.server.store)).toEqual([file.current]);
    expect(provider.currentKekId).toBe(file.current);
    const audit = await ts.server.store.kysely
      .selectFrom('audit_events')
      .select(['actor_role', 'outcome', 'reason'])
      .where('action', '=', 'keys.rotate')
      .execute();
    expect(audit).toEqual([{ actor_role: 'system', outcome: 'granted', reason: 'kek-rotated' }]);

    // A restarted server, with nothing but the new key file, reads every message and identity.
    for (const c of clients.splice(0)) await c.close();
    await ts.stop();
    servers = [];
    const restarted = await startServer({}, {}, dataDir);
    servers.push(restarted);
    for (const s of sessions) {
      const c = await TestClient.connect(restarted.url);
      clients.push(c);
      await c.auth(s.therapistToken);
      const texts = sent.get(s.conv)!;
      const joined = (await c.join(s.conv, 0)) as JoinedFrame;
      expect(joined.lastSeq).toBe(texts.length);
      await c.waitForSeq(s.conv, texts.length);
      expect(c.messages(s.conv).map((m) => m.text)).toEqual(texts);
    }
    const fresh = new DataKeyRing(restarted.server.store, FileKeyProvider.openOrCreate(dataDir));
    for (const c of [...extraCases.map((e) => e.caseId), ...opened]) await fresh.ensure(c);
    const rows = await restarted.server.store.kysely
      .selectFrom('users')
      .select('id')
      .where('identity_ct', 'is not', null)
      .execute();
    expect(rows).toHaveLength(30);
    const restartedProvider = FileKeyProvider.openOrCreate(dataDir);
    for (const r of rows) {
      const identity = await readIdentity({ db: restarted.server.store.kysely, provider: restartedProvider }, r.id);
      expect(identity).toMatchObject({ name: expect.stringMatching(/^Test Patient \d+$/) as unknown });
    }
  }, 60_000);
});

const STORES = storeFactories(pg, drops);

for (const [name, factory, available] of STORES) {
  describe.skipIf(!available)(`rotateKek on ${name}`, () => {
    async function setup() {
      const store = await factory();
      await store.migrate();
      const dataDir = tempDataDir();
      const provider = FileKeyProvider.openOrCreate(dataDir);
      const ring = new DataKeyRing(store, provider);
      const sink = new MemoryAuditSink();
      const audit = new AuditWriter({ sink });
      const therapistId = await createUser(store, 'therapist');
      const cases: string[] = [];
      const users: string[] = [];
      for (let i = 0; i < 12; i++) {
        const patientId = await createUser(store, 'patient');
        await writeIdentity({ db: store.kysely, provider }, patientId, { name: `Test Patient ${i}` });
        users.push(patientId);
        cases.push((await openCase(store, ring, { patientId, therapistId })).caseId);
      }
      return { store, dataDir, provider, sink, audit, cases, users };
    }

    it('re-wraps every data and identity key in batches, retires the old KEK, and everything still opens', async () => {
      const w = await setup();
      try {
        const old = w.provider.currentKekId;
        const progress: number[] = [];
        const report = await rotateKek(
          { db: w.store.kysely, provider: w.provider, audit: w.audit, now: () => 1_700_000_000_000 },
          { batchSize: 5, settleMs: 0, onProgress: (p) => progress.push(p.rewrapped) },
        );
        expect(report).toMatchObject({
          previousKekIds: [old],
          rewrapped: { data_keys: 12, user_keys: 12 },
          failed: 0,
          retired: [old],
          kept: [],
        });
        expect(progress.length).toBeGreaterThanOrEqual(6); // 12 + 12 rows, 5 a batch
        expect(await kekIdsInUse(w.store)).toEqual([report.newKekId]);
        const reopened = FileKeyProvider.openOrCreate(w.dataDir);
        expect(await reopened.kekIds()).toEqual([report.newKekId]);
        const ring = new DataKeyRing(w.store, reopened);
        for (const c of w.cases) await ring.ensure(c);
        for (const [i, u] of w.users.entries()) {
          expect(await readIdentity({ db: w.store.kysely, provider: reopened }, u)).toEqual({
            name: `Test Patient ${i}`,
          });
        }
        await w.audit.flush();
        const events = (await w.sink.read(1, 100)).filter((e) => e.action === 'keys.rotate');
        expect(events.map((e) => [e.actor, e.outcome, e.reason])).toEqual([['system', 'granted', 'kek-rotated']]);
      } finally {
        await w.audit.close();
        await w.store.close();
      }
    });

    it('keeps the old KEK, and says so, when a row cannot be re-wrapped; a later run completes once it is gone', async () => {
      const w = await setup();
      try {
        const old = w.provider.currentKekId;
        const damaged = (await w.store.dataKeysForCase(w.cases[0]!))[0]!;
        await w.store.kysely
          .updateTable('data_keys')
          .set({ wrapped: Buffer.alloc(60, 1) })
          .where('id', '=', damaged.id)
          .execute();
        const deps = { db: w.store.kysely, provider: w.provider, audit: w.audit, now: () => 1_700_000_000_000 };
        const report = await rotateKek(deps, { batchSize: 4, settleMs: 0 });
        expect(report).toMatchObject({ failed: 1, kept: [old], retired: [] });
        expect(report.rewrapped).toEqual({ data_keys: 11, user_keys: 12 });
        expect(await w.provider.kekIds()).toContain(old);
        // The damaged row is removed (say, the case was shredded): the next rotation retires every old KEK.
        await w.store.kysely.deleteFrom('data_keys').where('id', '=', damaged.id).execute();
        const again = await rotateKek(deps, { batchSize: 4, settleMs: 0 });
        expect(again.kept).toEqual([]);
        expect([...again.retired].sort()).toEqual([old, report.newKekId].sort());
        expect(await w.provider.kekIds()).toEqual([again.newKekId]);
        await w.audit.flush();
        const events = (await w.sink.read(1, 100)).filter((e) => e.action === 'keys.rotate');
        expect(events.map((e) => [e.outcome, e.reason])).toEqual([
          ['error', 'kek-rotation-incomplete'],
          ['granted', 'kek-rotated'],
        ]);
      } finally {
        await w.audit.close();
        await w.store.close();
      }
    });
  });
}

describe('npm run keys:rotate, refusals', () => {
  it('refuses without a key file (78) and while another rotation holds the lock (75), changing nothing', async () => {
    const dataDir = tempDataDir();
    const store = new SqliteStore({ dataDir });
    await store.migrate();
    await store.close();
    const none = await rotateCli(dataDir);
    expect(none.code).toBe(78);
    expect(none.err).toMatch(/no key file/);
    FileKeyProvider.openOrCreate(dataDir);
    const before = fs.readFileSync(path.join(dataDir, KEY_FILE_NAME), 'utf8');
    fs.writeFileSync(path.join(dataDir, 'kek.json.lock'), '1\n');
    const locked = await rotateCli(dataDir, '--settle-ms', '0');
    expect(locked.code).toBe(75);
    expect(locked.err).toMatch(/another key rotation is running/);
    expect(fs.readFileSync(path.join(dataDir, KEY_FILE_NAME), 'utf8')).toBe(before);
    expect((await rotateCli(dataDir, '--batch-size', '0')).code).toBe(64);
  });
});
