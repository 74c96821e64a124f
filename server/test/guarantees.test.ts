/**
 * The delivery guarantees of DESIGN §3, each against a real server, a real port and a real SQLite file.
 */
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { AckFrame, ErrorFrame, JoinedFrame, MessageFrame } from '@therapy-chat/protocol';
import { SQLITE_FILE_NAME } from '../src/store/sqlite-store.js';
import { startServer, type TestServer } from './helpers/harness.js';
import { TestClient } from './helpers/test-client.js';

const servers: TestServer[] = [];
const clients: TestClient[] = [];

async function server(env: Record<string, string> = {}) {
  const ts = await startServer({ FRAMES_PER_SECOND: '5000', FRAME_BURST: '5000', ...env });
  servers.push(ts);
  return ts;
}

async function connect(ts: TestServer, token: string, conv?: string, since?: number) {
  const c = await TestClient.connect(ts.url);
  clients.push(c);
  expect((await c.auth(token)).type).toBe('welcome');
  if (conv) expect((await c.join(conv, since)).type).toBe('joined');
  return c;
}

function openReadOnly(ts: TestServer) {
  return new BetterSqlite3(path.join(ts.dataDir, SQLITE_FILE_NAME), { readonly: true, fileMustExist: true });
}

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const ts of servers.splice(0)) await ts.stop();
});

describe('ack only after durable commit', () => {
  it('every acked message is already readable by another process when its ack arrives', async () => {
    const ts = await server();
    const s = await ts.seed();
    const patient = await connect(ts, s.patientToken, s.conv);
    const db = openReadOnly(ts);
    try {
      const row = db.prepare('SELECT seq, client_msg_id FROM messages WHERE conversation_id = ? AND seq = ?');
      for (let i = 0; i < 20; i++) {
        const ack = (await patient.sendText(s.conv, `note ${i}`, `durable-${i}`)) as AckFrame;
        expect(ack.type).toBe('ack');
        expect(row.get(s.conv, ack.seq)).toEqual({ seq: ack.seq, client_msg_id: `durable-${i}` });
      }
    } finally {
      db.close();
    }
  });

  it('while the database cannot commit, sends get UNAVAILABLE and no ack; a resend afterwards is stored once', async () => {
    const ts = await server({ SQLITE_BUSY_TIMEOUT_MS: '50' });
    const s = await ts.seed();
    const patient = await connect(ts, s.patientToken, s.conv);
    const therapist = await connect(ts, s.therapistToken, s.conv);
    // Another process takes the write lock, as a backup tool or a stuck writer would.
    const blocker = new BetterSqlite3(path.join(ts.dataDir, SQLITE_FILE_NAME));
    blocker.exec('BEGIN IMMEDIATE');
    const reply = (await patient.sendText(s.conv, 'while locked', 'locked-1')) as ErrorFrame;
    expect(reply).toMatchObject({ type: 'error', code: 'UNAVAILABLE', clientMsgId: 'locked-1' });
    expect(patient.frames.some((f) => f.type === 'ack')).toBe(false);
    expect(therapist.messages(s.conv)).toHaveLength(0);
    blocker.exec('ROLLBACK');
    blocker.close();

    const ack = (await patient.sendText(s.conv, 'while locked', 'locked-1')) as AckFrame;
    expect(ack).toMatchObject({ type: 'ack', seq: 1 });
    await therapist.waitForSeq(s.conv, 1);
    const db = openReadOnly(ts);
    expect(db.prepare('SELECT count(*) AS n FROM messages').get()).toEqual({ n: 1 });
    db.close();
  });
});

describe('seq is gap-free and identical for every participant', () => {
  it('under concurrent senders on four connections', async () => {
    const ts = await server();
    const s = await ts.seed();
    const senders = [
      await connect(ts, s.patientToken, s.conv),
      await connect(ts, s.patientToken, s.conv),
      await connect(ts, s.therapistToken, s.conv),
      await connect(ts, s.therapistToken, s.conv),
    ];
    const observer = await connect(ts, s.therapistToken, s.conv);
    const perSender = 100;
    const acks = await Promise.all(
      senders.flatMap((c, k) =>
        Array.from({ length: perSender }, (_, i) => c.sendText(s.conv, `sender ${k} message ${i}`, `c${k}-${i}`)),
      ),
    );
    const total = senders.length * perSender;
    const seqs = acks.map((a) => (a as AckFrame).seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    await observer.waitForSeq(s.conv, total);
    const reference = observer.messages(s.conv).map((m) => [m.seq, m.clientMsgId]);
    expect(reference.map(([seq]) => seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    for (const c of senders) {
      await c.waitForSeq(s.conv, total);
      expect(c.messages(s.conv).map((m) => [m.seq, m.clientMsgId])).toEqual(reference);
    }
    // Each sender's own messages keep the order it sent them in.
    for (let k = 0; k < senders.length; k++) {
      const mine = reference.filter(([, id]) => String(id).startsWith(`c${k}-`)).map(([, id]) => id);
      expect(mine).toEqual(Array.from({ length: perSender }, (_, i) => `c${k}-${i}`));
    }
    // Group commit did batch them.
    const metrics = await (await fetch(`${ts.httpUrl}/metrics`)).text();
    const batches = Number(/tc_commit_batch_size_count (\d+)/.exec(metrics)?.[1]);
    expect(batches).toBeGreaterThan(0);
    expect(batches).toBeLessThan(total);
  });
});

describe('a resend with the same clientMsgId', () => {
  it('returns the same ack and is stored and delivered once', async () => {
    const ts = await server();
    const s = await ts.seed();
    const patient = await connect(ts, s.patientToken, s.conv);
    const therapist = await connect(ts, s.therapistToken, s.conv);
    const first = (await patient.sendText(s.conv, 'I am not sure this sent', 'resend-1')) as AckFrame;
    // A resend in flight at the same moment as another (same batch), and a later one.
    const [again, twice] = (await Promise.all([
      patient.sendText(s.conv, 'I am not sure this sent', 'resend-1'),
      patient.sendText(s.conv, 'I am not sure this sent', 'resend-1'),
    ])) as AckFrame[];
    for (const ack of [again!, twice!]) expect({ seq: ack.seq, ts: ack.ts }).toEqual({ seq: first.seq, ts: first.ts });
    // The same clientMsgId from another sender is a different message.
    const other = (await therapist.sendText(s.conv, 'I am not sure this sent', 'resend-1')) as AckFrame;
    expect(other.seq).toBe(first.seq + 1);
    await patient.waitForSeq(s.conv, other.seq);
    expect(patient.messages(s.conv).map((m) => m.seq)).toEqual([1, 2]);
    const db = openReadOnly(ts);
    expect(db.prepare("SELECT count(*) AS n FROM messages WHERE client_msg_id = 'resend-1'").get()).toEqual({ n: 2 });
    db.close();
  });
});

describe('join with since', () => {
  it('replays exactly the missed messages, in order, then streams live without a duplicate', async () => {
    const ts = await server();
    const s = await ts.seed();
    const therapist = await connect(ts, s.therapistToken, s.conv);
    for (let i = 1; i <= 30; i++) await therapist.sendText(s.conv, `before ${i}`);
    const patient = await connect(ts, s.patientToken);
    const joined = (await patient.join(s.conv, 12)) as JoinedFrame;
    expect(joined.lastSeq).toBe(30);
    await patient.waitForSeq(s.conv, 30);
    await therapist.sendText(s.conv, 'after the join');
    await patient.waitForSeq(s.conv, 31);
    expect(patient.messages(s.conv).map((m) => m.seq)).toEqual(Array.from({ length: 19 }, (_, i) => 13 + i));
    expect(patient.messages(s.conv)[0]!.text).toBe('before 13');
  });

  it('loses and repeats nothing when messages are committed while the replay runs', async () => {
    const ts = await server();
    const s = await ts.seed();
    const therapist = await connect(ts, s.therapistToken, s.conv);
    await Promise.all(Array.from({ length: 500 }, (_, i) => therapist.sendText(s.conv, `history ${i}`)));
    const patient = await connect(ts, s.patientToken);
    // Join (replay of 500, several pages) while 200 more are being sent.
    const sending = Promise.all(Array.from({ length: 200 }, (_, i) => therapist.sendText(s.conv, `live ${i}`)));
    await patient.join(s.conv, 0);
    await sending;
    await patient.waitForSeq(s.conv, 700);
    expect(patient.messages(s.conv).map((m: MessageFrame) => m.seq)).toEqual(
      Array.from({ length: 700 }, (_, i) => i + 1),
    );
  });

  it('replays a long history at the pace the client reads, without tripping the slow-consumer cap', async () => {
    const ts = await server({ MAX_TEXT_LENGTH: '16000', MAX_OUTBOUND_BYTES: '262144' });
    const s = await ts.seed();
    const therapist = await connect(ts, s.therapistToken, s.conv);
    const big = 'w'.repeat(16_000);
    for (let i = 0; i < 6; i++) await Promise.all(Array.from({ length: 100 }, () => therapist.sendText(s.conv, big)));
    // ~10 MB of history through a 256 KiB outbound cap.
    const patient = await connect(ts, s.patientToken, s.conv, 0);
    await patient.waitForSeq(s.conv, 600, 15_000);
    expect(patient.isClosed).toBe(false);
    expect(patient.messages(s.conv).map((m) => m.seq)).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
  });

  it('refuses a since beyond the conversation', async () => {
    const ts = await server();
    const s = await ts.seed();
    const patient = await connect(ts, s.patientToken);
    expect(await patient.join(s.conv, 5)).toMatchObject({ type: 'error', code: 'INVALID_FIELD' });
  });
});

describe('encryption at rest', () => {
  it('the SQLite file and its WAL hold no message text in clear', async () => {
    const ts = await server();
    const s = await ts.seed();
    const patient = await connect(ts, s.patientToken, s.conv);
    const marker = 'zebra-lantern-cobalt-7731';
    const texts = [marker, `I told nobody about the ${marker} until today`, 'ordinary words about sleep and work'];
    for (const [i, text] of texts.entries()) {
      expect((await patient.sendText(s.conv, text, `secret-${i}-visible`)).type).toBe('ack');
    }
    const files = fs.readdirSync(ts.dataDir).filter((f) => f.startsWith(SQLITE_FILE_NAME));
    expect(files).toContain(`${SQLITE_FILE_NAME}-wal`);
    const bytes = Buffer.concat(files.map((f) => fs.readFileSync(path.join(ts.dataDir, f))));
    // The search works: ids stored in clear are found in the same bytes.
    expect(bytes.includes(Buffer.from('secret-0-visible'))).toBe(true);
    for (const needle of [marker, 'ordinary words about sleep', 'zebra-lantern']) {
      expect(bytes.includes(Buffer.from(needle, 'utf8'))).toBe(false);
      expect(bytes.includes(Buffer.from(needle, 'utf16le'))).toBe(false);
    }
    // After a checkpoint folds the WAL into the main file, still none.
    await ts.stop();
    servers.splice(servers.indexOf(ts), 1);
    const main = fs.readFileSync(path.join(ts.dataDir, SQLITE_FILE_NAME));
    expect(main.includes(Buffer.from('secret-0-visible'))).toBe(true);
    expect(main.includes(Buffer.from(marker))).toBe(false);
  });
});
