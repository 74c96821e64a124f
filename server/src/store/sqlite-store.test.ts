import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataKeyRing } from '../crypto/data-keys.js';
import { createUser, openCase, scheduleAppointment } from '../domain/care-setup.js';
import { toAppendTarget, type AppendTargetRow } from './rows.js';
import { SqliteStore } from './sqlite-store.js';
import { describeStoreContract, memoryKeyProvider } from './store.contract.js';
import { conversationAcceptsMessages } from './store.js';

describeStoreContract('SQLite file', async () => {
  const store = new SqliteStore({ dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'tc-store-')) });
  await store.migrate();
  return store;
});

describe('SqliteStore', () => {
  it('runs in WAL mode with full sync, and migrating twice is harmless', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tc-store-'));
    const a = new SqliteStore({ dataDir: dir });
    await a.migrate();
    await a.migrate();
    const db = (a as unknown as { db: import('better-sqlite3').Database }).db;
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(10_000);
    await a.close();
    const b = new SqliteStore({ dataDir: dir });
    await b.migrate();
    await b.ping();
    await b.close();
  });

  it('reads on the append path exactly the fields of getConversation it needs, in every state', async () => {
    const store = new SqliteStore({ dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'tc-store-')) });
    await store.migrate();
    const keys = new DataKeyRing(store, memoryKeyProvider());
    const db = (store as unknown as { db: import('better-sqlite3').Database }).db;
    const appendTarget = db.prepare<[string], AppendTargetRow>(
      (store as unknown as { q: { appendTarget: { source: string } } }).q.appendTarget.source,
    );
    const patientId = await createUser(store, 'patient');
    const therapistId = await createUser(store, 'therapist');
    const { caseId, threadId } = await openCase(store, keys, { patientId, therapistId });
    const convs = [threadId];
    for (const status of ['scheduled', 'waiting', 'live', 'ended', 'cancelled'] as const)
      convs.push((await scheduleAppointment(store, caseId, { status })).conversationId);
    db.prepare('UPDATE conversations SET last_seq = 7 WHERE id = ?').run(threadId);
    const compare = async () => {
      for (const id of convs) {
        const info = (await store.getConversation(id))!;
        const target = toAppendTarget(appendTarget.get(id)!);
        expect(target).toEqual({
          caseId: info.caseId,
          kind: info.kind,
          caseStatus: info.caseStatus,
          shreddedAt: info.shreddedAt,
          appointmentStatus: info.appointmentStatus,
          lastSeq: info.lastSeq,
        });
        expect(conversationAcceptsMessages(target)).toBe(conversationAcceptsMessages(info));
      }
    };
    await compare();
    db.prepare("UPDATE cases SET status = 'discharged', discharged_at = ? WHERE id = ?").run(Date.now(), caseId);
    await compare();
    db.prepare('UPDATE cases SET shredded_at = ? WHERE id = ?').run(Date.now(), caseId);
    await compare();
    expect(appendTarget.get('cv_nope')).toBeUndefined();
    await store.close();
  });

  it('upgrading to the time-ordered client-id index keeps deduplicating messages stored before it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tc-store-'));
    const before = new SqliteStore({ dataDir: dir });
    await before.migrate();
    const provider = memoryKeyProvider();
    const keys = new DataKeyRing(before, provider);
    const patientId = await createUser(before, 'patient');
    const therapistId = await createUser(before, 'therapist');
    const { caseId, threadId } = await openCase(before, keys, { patientId, therapistId });
    const req = { conv: threadId, senderId: patientId, senderRole: 'patient' as const, ts: 1_700_000_000_000 };
    const [first] = await before.append([{ ...req, clientMsgId: 'm-old', text: 'before the upgrade' }], keys);
    expect(first).toMatchObject({ kind: 'stored', message: { seq: 1 } });
    // Put the database back as migration 0003 left it: the index led by the conversation.
    const db = (before as unknown as { db: import('better-sqlite3').Database }).db;
    db.exec(`DROP INDEX messages_by_client_msg_id;
      CREATE UNIQUE INDEX messages_client_msg_id ON messages (conversation_id, sender_id, client_msg_id);
      DELETE FROM kysely_migration WHERE name = '0004_client_id_index_order';`);
    await before.close();

    const after = new SqliteStore({ dataDir: dir });
    await after.migrate();
    const adb = (after as unknown as { db: import('better-sqlite3').Database }).db;
    const indexes = adb.prepare("SELECT name FROM pragma_index_list('messages') WHERE origin = 'c'").all();
    expect(indexes).toEqual([{ name: 'messages_by_client_msg_id' }]);
    const columns = adb.prepare("SELECT name FROM pragma_index_info('messages_by_client_msg_id') ORDER BY seqno").all();
    expect(columns).toEqual([{ name: 'client_msg_id' }, { name: 'conversation_id' }, { name: 'sender_id' }]);
    const afterKeys = new DataKeyRing(after, provider);
    await afterKeys.ensure(caseId);
    const outcomes = await after.append(
      [
        { ...req, clientMsgId: 'm-old', text: 'before the upgrade' }, // a resend: answered with its first ack
        { ...req, clientMsgId: 'm-old', text: 'other words' }, // same id, other text: refused
        { ...req, senderId: therapistId, senderRole: 'therapist', clientMsgId: 'm-old', text: 'mine' }, // other sender
      ],
      afterKeys,
    );
    expect(outcomes.map((o) => o.kind)).toEqual(['duplicate', 'mismatch', 'stored']);
    expect(outcomes[0]).toMatchObject({ message: { seq: 1 } });
    expect(outcomes[2]).toMatchObject({ message: { seq: 2 } });
    await after.close();
  });

  it('refuses to be used before migrate()', async () => {
    const store = new SqliteStore({ dataDir: ':memory:' });
    await expect(store.getConversation('x')).rejects.toThrow(/before migrate/);
  });
});
