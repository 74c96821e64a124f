import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DecryptError } from '../crypto/aead.js';
import { DataKeyRing } from '../crypto/data-keys.js';
import { FileKeyProvider } from '../crypto/file-key-provider.js';
import { createUser, openCase } from '../domain/care-setup.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { openNote, sealNote } from './note-crypto.js';

describe('note sealing', () => {
  it('opens a note under its own id only: a ciphertext moved to another note fails', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tc-notes-'));
    const store = new SqliteStore({ dataDir });
    await store.migrate();
    try {
      const keys = new DataKeyRing(store, FileKeyProvider.openOrCreate(dataDir));
      const patientId = await createUser(store, 'patient');
      const therapistId = await createUser(store, 'therapist');
      const { caseId } = await openCase(store, keys, { patientId, therapistId });
      const sealed = sealNote(keys, caseId, 'nt_one', 'Discussed sleep; plan a diary.');
      expect(sealed.ciphertext.toString('utf8')).not.toContain('sleep');
      const note = { id: 'nt_one', key_id: sealed.keyId, text_ct: sealed.ciphertext };
      expect(openNote(keys, note)).toBe('Discussed sleep; plan a diary.');
      expect(() => openNote(keys, { ...note, id: 'nt_two' })).toThrow(DecryptError);
    } finally {
      await store.close();
    }
  });
});
