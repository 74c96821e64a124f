import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DataKeyRing } from '../crypto/data-keys.js';
import { FileKeyProvider } from '../crypto/file-key-provider.js';
import { createUser, openCase } from '../domain/care-setup.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import { messagePages } from './transcript-pages.js';

let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

async function threadWith(count: number) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tc-pages-'));
  const s = new SqliteStore({ dataDir });
  store = s;
  await s.migrate();
  const keys = new DataKeyRing(s, FileKeyProvider.openOrCreate(dataDir));
  const patientId = await createUser(s, 'patient');
  const therapistId = await createUser(s, 'therapist');
  const { caseId, threadId } = await openCase(s, keys, { patientId, therapistId });
  const batch = Array.from({ length: count }, (_, i) => ({
    conv: threadId,
    senderId: i % 2 ? therapistId : patientId,
    senderRole: i % 2 ? ('therapist' as const) : ('patient' as const),
    clientMsgId: `m-${i}`,
    text: `message ${i + 1}`,
    ts: 1_700_000_000_000 + i,
  }));
  for (let i = 0; i < batch.length; i += 400) await s.append(batch.slice(i, i + 400), keys);
  // A fresh ring, as a request on another node would have: it must load the keys itself.
  const fresh = new DataKeyRing(s, FileKeyProvider.openOrCreate(dataDir));
  await fresh.ensure(caseId);
  return { s, keys: fresh, threadId };
}

describe('messagePages', () => {
  it('reads a long conversation in bounded pages, every message once, in order, decrypted', async () => {
    const { s, keys, threadId } = await threadWith(1234);
    const sizes: number[] = [];
    const texts: string[] = [];
    for await (const page of messagePages(s, keys, threadId, 500)) {
      sizes.push(page.length);
      texts.push(...page.map((m) => m.text));
    }
    expect(sizes).toEqual([500, 500, 234]);
    expect(texts).toEqual(Array.from({ length: 1234 }, (_, i) => `message ${i + 1}`));
  });

  it('yields nothing for an empty conversation, and stops on an exact page boundary', async () => {
    const empty = await threadWith(0);
    const pages = [];
    for await (const page of messagePages(empty.s, empty.keys, empty.threadId, 10)) pages.push(page);
    expect(pages).toEqual([]);
    await empty.s.close();
    const exact = await threadWith(20);
    const sizes: number[] = [];
    for await (const page of messagePages(exact.s, exact.keys, exact.threadId, 10)) sizes.push(page.length);
    expect(sizes).toEqual([10, 10]);
  });
});
