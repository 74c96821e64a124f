import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FileKeyProvider, KEY_FILE_NAME } from './file-key-provider.js';

const dir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'tc-kek-'));

describe('FileKeyProvider', () => {
  it('creates a private key file on first start, warns loudly, and reuses it after', async () => {
    const d = dir();
    const warnings: string[] = [];
    const log = { warn: (_o: unknown, msg: string) => warnings.push(msg) } as never;
    const a = FileKeyProvider.openOrCreate(d, log);
    expect(warnings.join()).toMatch(/KEY FILE CREATED/);
    expect(fs.statSync(path.join(d, KEY_FILE_NAME)).mode & 0o777).toBe(0o600);
    const dek = randomBytes(32);
    const wrapped = await a.wrap('dek_1', dek);
    expect(wrapped.wrapped.includes(dek)).toBe(false);
    const b = FileKeyProvider.openOrCreate(d, log);
    expect(warnings).toHaveLength(1);
    expect((await b.unwrap('dek_1', wrapped)).equals(dek)).toBe(true);
  });

  it('binds a wrapped key to its id, and refuses unknown KEKs', async () => {
    const p = FileKeyProvider.openOrCreate(dir());
    const wrapped = await p.wrap('dek_1', randomBytes(32));
    await expect(p.unwrap('dek_2', wrapped)).rejects.toThrow(/authentication failed/);
    await expect(p.unwrap('dek_1', { ...wrapped, kekId: 'kek_other' })).rejects.toThrow(/unknown key-encryption key/);
    const other = FileKeyProvider.openOrCreate(dir());
    await expect(other.unwrap('dek_1', { ...wrapped, kekId: other.currentKekId })).rejects.toThrow();
  });

  it('names the file when it is damaged', () => {
    const d = dir();
    fs.writeFileSync(path.join(d, KEY_FILE_NAME), '{not json');
    expect(() => FileKeyProvider.openOrCreate(d)).toThrow(new RegExp(`${KEY_FILE_NAME} is not valid JSON`));
  });
});
