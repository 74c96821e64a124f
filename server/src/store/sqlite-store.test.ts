import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from './sqlite-store.js';
import { describeStoreContract } from './store.contract.js';

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

  it('refuses to be used before migrate()', async () => {
    const store = new SqliteStore({ dataDir: ':memory:' });
    await expect(store.getConversation('x')).rejects.toThrow(/before migrate/);
  });
});
