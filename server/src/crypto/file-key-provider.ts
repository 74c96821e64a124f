/**
 * The embedded default key provider: KEKs in a JSON file (mode 0600) in DATA_DIR, created on first start.
 * Anyone who can read this file and the database can read every record; production uses a KMS instead.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { aad, KEY_BYTES, open, seal } from './aead.js';
import type { KeyProvider, WrappedKey } from './key-provider.js';
import { newId } from '../ids.js';

interface KeyFile {
  readonly version: 1;
  readonly current: string;
  readonly keys: readonly { readonly id: string; readonly key: string; readonly createdAt: string }[];
}

export const KEY_FILE_NAME = 'kek.json';

export class FileKeyProvider implements KeyProvider {
  private constructor(
    readonly currentKekId: string,
    private readonly keks: ReadonlyMap<string, Buffer>,
  ) {}

  /** Loads the key file in `dataDir`, creating it (with a loud warning) when there is none. */
  static openOrCreate(dataDir: string, log?: Logger): FileKeyProvider {
    const file = path.join(dataDir, KEY_FILE_NAME);
    if (!fs.existsSync(file)) {
      const id = newId('kek');
      const content: KeyFile = {
        version: 1,
        current: id,
        keys: [{ id, key: randomBytes(KEY_BYTES).toString('base64'), createdAt: new Date().toISOString() }],
      };
      fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      // 'wx' fails if another process created it meanwhile; then we read theirs.
      try {
        fs.writeFileSync(file, JSON.stringify(content, null, 2), { mode: 0o600, flag: 'wx' });
        log?.warn(
          { file },
          'KEY FILE CREATED: a new key-encryption key was generated. Everything stored is encrypted under it: back it up apart from the database, and use a KMS in production',
        );
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    return FileKeyProvider.parse(file, fs.readFileSync(file, 'utf8'));
  }

  private static parse(file: string, text: string): FileKeyProvider {
    let data: KeyFile;
    try {
      data = JSON.parse(text) as KeyFile;
    } catch {
      throw new Error(`key file ${file} is not valid JSON`);
    }
    const keks = new Map<string, Buffer>();
    for (const k of data.keys ?? []) {
      const key = Buffer.from(k.key, 'base64');
      if (key.length !== KEY_BYTES) throw new Error(`key file ${file}: key ${k.id} is not ${KEY_BYTES} bytes`);
      keks.set(k.id, key);
    }
    if (data.version !== 1 || !keks.has(data.current)) {
      throw new Error(`key file ${file}: unknown version or its current key is missing`);
    }
    return new FileKeyProvider(data.current, keks);
  }

  async wrap(dekId: string, dek: Buffer): Promise<WrappedKey> {
    const kek = this.keks.get(this.currentKekId) as Buffer;
    return { kekId: this.currentKekId, wrapped: seal(kek, dek, aad('dek', this.currentKekId, dekId)) };
  }

  async unwrap(dekId: string, key: WrappedKey): Promise<Buffer> {
    const kek = this.keks.get(key.kekId);
    if (!kek) throw new Error(`unknown key-encryption key ${key.kekId}`);
    return open(kek, key.wrapped, aad('dek', key.kekId, dekId));
  }
}
