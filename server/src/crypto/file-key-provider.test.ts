import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import {
  FileKeyProvider,
  KEY_FILE_LOCK,
  KEY_FILE_NAME,
  KeyFileLockedError,
  RETIRED_KEK_GRACE_MS,
} from './file-key-provider.js';

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

  it('rotates: a new KEK becomes current, and keys wrapped by the old one still unwrap until it is retired', async () => {
    const d = dir();
    const p = FileKeyProvider.openOrCreate(d);
    const old = p.currentKekId;
    const dek = randomBytes(32);
    const underOld = await p.wrap('dek_1', dek);
    const id = await p.addKek();
    expect(id).not.toBe(old);
    expect(p.currentKekId).toBe(id);
    expect(await p.kekIds()).toEqual([old, id]);
    const underNew = await p.wrap('dek_1', dek);
    expect(underNew.kekId).toBe(id);
    expect((await p.unwrap('dek_1', underOld)).equals(dek)).toBe(true);
    expect((await p.unwrap('dek_1', underNew)).equals(dek)).toBe(true);
    await expect(p.retireKek(id)).rejects.toThrow(/is current and cannot be retired/);
    await p.retireKek(old);
    expect(await p.kekIds()).toEqual([id]);
    // Gone from the file: a process that starts now cannot unwrap with it…
    await expect(FileKeyProvider.openOrCreate(d).unwrap('dek_1', underOld)).rejects.toThrow(
      /unknown key-encryption key/,
    );
    // …while one that held it keeps it in memory for a grace period, for a reader that read the row just before.
    expect((await p.unwrap('dek_1', underOld)).equals(dek)).toBe(true);
    vi.useFakeTimers({ now: Date.now() + RETIRED_KEK_GRACE_MS + 1, toFake: ['Date'] });
    try {
      await expect(p.unwrap('dek_1', underOld)).rejects.toThrow(/unknown key-encryption key/);
    } finally {
      vi.useRealTimers();
    }
    // The file says the same, privately.
    expect(fs.statSync(path.join(d, KEY_FILE_NAME)).mode & 0o777).toBe(0o600);
    expect(await FileKeyProvider.openOrCreate(d).kekIds()).toEqual([id]);
    expect(fs.readdirSync(d)).toEqual([KEY_FILE_NAME]);
  });

  it('a running process picks up a rotation made by another one, without a restart', async () => {
    const d = dir();
    const server = FileKeyProvider.openOrCreate(d);
    const rotator = FileKeyProvider.openOrCreate(d);
    const dek = randomBytes(32);
    const id = await rotator.addKek();
    // A key the other process wrapped under the new KEK unwraps here…
    expect((await server.unwrap('dek_1', await rotator.wrap('dek_1', dek))).equals(dek)).toBe(true);
    // …and new keys here are wrapped under it, not under the KEK being retired.
    const rotatedAgain = await rotator.addKek();
    expect((await server.wrap('dek_2', dek)).kekId).toBe(rotatedAgain);
    expect(id).not.toBe(rotatedAgain);
  });

  it('keeps the keys it holds when the file is damaged while it runs', async () => {
    const d = dir();
    const p = FileKeyProvider.openOrCreate(d);
    const wrapped = await p.wrap('dek_1', randomBytes(32));
    fs.writeFileSync(path.join(d, KEY_FILE_NAME), '{"version":1,"current":"kek_gone","keys":[]}');
    expect((await p.wrap('dek_2', randomBytes(32))).kekId).toBe(wrapped.kekId);
    await expect(p.unwrap('dek_1', wrapped)).resolves.toHaveLength(32);
  });

  it('refuses to change the file while another rotation holds its lock', async () => {
    const d = dir();
    const p = FileKeyProvider.openOrCreate(d);
    fs.writeFileSync(path.join(d, KEY_FILE_LOCK), '12345\n');
    await expect(p.addKek()).rejects.toBeInstanceOf(KeyFileLockedError);
    expect(await p.kekIds()).toHaveLength(1);
    fs.rmSync(path.join(d, KEY_FILE_LOCK));
    await p.addKek();
    expect(await p.kekIds()).toHaveLength(2);
  });
});
