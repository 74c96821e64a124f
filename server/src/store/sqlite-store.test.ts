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

  it('refuses to be used before migrate()', async () => {
    const store = new SqliteStore({ dataDir: ':memory:' });
    await expect(store.getConversation('x')).rejects.toThrow(/before migrate/);
  });
});
