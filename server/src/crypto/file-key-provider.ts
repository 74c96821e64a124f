/**
 * The embedded default key provider: KEKs in a JSON file (mode 0600) in DATA_DIR, created on first start.
 * Anyone who can read this file and the database can read every record; production uses a KMS instead.
 *
 * The file holds every KEK still in use: the current one (new data keys are wrapped with it) and, during a rotation,
 * the previous ones. A running process notices when another process (`npm run keys:rotate`) rewrites the file: it
 * re-reads it before each wrap and whenever a wrapped key names a KEK it does not hold, so a rotation needs no restart.
 * The file is only ever replaced whole (write a temporary file, fsync, rename), so a reader never sees half of it.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { aad, KEY_BYTES, open, seal } from './aead.js';
import type { RotatableKeyProvider, WrappedKey } from './key-provider.js';
import { newId } from '../ids.js';
import { createFileAtomically } from '../create-file.js';

interface KeyFile {
  readonly version: 1;
  readonly current: string;
  readonly keys: readonly { readonly id: string; readonly key: string; readonly createdAt: string }[];
}

export const KEY_FILE_NAME = 'kek.json';
/** Held while a rotation changes the key file, so that two rotations cannot interleave. */
export const KEY_FILE_LOCK = 'kek.json.lock';

/**
 * How long a process keeps, in memory only, a KEK that it saw retired from the file. Retirement happens only once no row
 * uses the KEK, but a reader may have read a row a moment before it was re-wrapped and unwrap it a moment after the
 * KEK left the file; for that reader the old KEK must still work.
 */
export const RETIRED_KEK_GRACE_MS = 60_000;

/** Another rotation holds the lock file (or one crashed and left it). */
export class KeyFileLockedError extends Error {
  override readonly name = 'KeyFileLockedError';
}

interface Loaded {
  readonly content: KeyFile;
  readonly keks: ReadonlyMap<string, Buffer>;
}

/** What identifies one version of the file: a rename gives a new inode, a rewrite a new mtime or size. */
function stampOf(st: fs.Stats): string {
  return `${st.ino}:${st.mtimeMs}:${st.size}`;
}

export class FileKeyProvider implements RotatableKeyProvider {
  private current: string;
  private keks: ReadonlyMap<string, Buffer>;
  private stamp: string;
  /** KEKs that left the file while this process ran, with when to forget them (see `RETIRED_KEK_GRACE_MS`). */
  private readonly retiring = new Map<string, { readonly key: Buffer; readonly until: number }>();

  private constructor(
    private readonly file: string,
    loaded: Loaded,
    stamp: string,
    private readonly log?: Logger,
  ) {
    this.current = loaded.content.current;
    this.keks = loaded.keks;
    this.stamp = stamp;
  }

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
      // If another process created it meanwhile, theirs is read below (never half-written: see createFileAtomically).
      if (createFileAtomically(file, JSON.stringify(content, null, 2))) {
        log?.warn(
          { file },
          'KEY FILE CREATED: a new key-encryption key was generated. Everything stored is encrypted under it: back it up apart from the database, and use a KMS in production',
        );
      }
    }
    const stamp = stampOf(fs.statSync(file));
    return new FileKeyProvider(file, FileKeyProvider.parse(file, fs.readFileSync(file, 'utf8')), stamp, log);
  }

  private static parse(file: string, text: string): Loaded {
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
    return { content: data, keks };
  }

  get currentKekId(): string {
    return this.current;
  }

  /**
   * Re-reads the key file if another process replaced it. A file that cannot be read or parsed is logged and the keys
   * held are kept: traffic must not stop because of a bad edit; the next start reports it.
   */
  private refresh(): void {
    try {
      const stamp = stampOf(fs.statSync(this.file));
      if (stamp === this.stamp) return;
      const loaded = FileKeyProvider.parse(this.file, fs.readFileSync(this.file, 'utf8'));
      const until = Date.now() + RETIRED_KEK_GRACE_MS;
      for (const [id, key] of this.keks) if (!loaded.keks.has(id)) this.retiring.set(id, { key, until });
      this.keks = loaded.keks;
      this.current = loaded.content.current;
      this.stamp = stamp;
      this.log?.info({ current: this.current, held: this.keks.size }, 'key file reloaded');
    } catch (err) {
      this.log?.error({ err, file: this.file }, 'key file could not be reloaded; keeping the keys held');
    }
  }

  async wrap(dekId: string, dek: Buffer): Promise<WrappedKey> {
    // A rotation in another process may have made a new KEK current: new keys must not be wrapped with a retiring one.
    this.refresh();
    const kekId = this.current;
    const kek = this.keks.get(kekId) as Buffer;
    return { kekId, wrapped: seal(kek, dek, aad('dek', kekId, dekId)) };
  }

  async unwrap(dekId: string, key: WrappedKey): Promise<Buffer> {
    let kek = this.keks.get(key.kekId);
    if (!kek) {
      this.refresh();
      kek = this.keks.get(key.kekId) ?? this.retired(key.kekId);
    }
    if (!kek) throw new Error(`unknown key-encryption key ${key.kekId}`);
    return open(kek, key.wrapped, aad('dek', key.kekId, dekId));
  }

  private retired(kekId: string): Buffer | undefined {
    const r = this.retiring.get(kekId);
    if (r && r.until > Date.now()) return r.key;
    for (const [id, { until }] of this.retiring) if (until <= Date.now()) this.retiring.delete(id);
    return undefined;
  }

  async kekIds(): Promise<readonly string[]> {
    this.refresh();
    return [...this.keks.keys()];
  }

  async addKek(): Promise<string> {
    const id = newId('kek');
    this.change((content) => ({
      version: 1,
      current: id,
      keys: [
        ...content.keys,
        { id, key: randomBytes(KEY_BYTES).toString('base64'), createdAt: new Date().toISOString() },
      ],
    }));
    this.log?.info({ kekId: id }, 'new key-encryption key is current');
    return id;
  }

  async retireKek(kekId: string): Promise<void> {
    this.change((content) => {
      if (content.current === kekId) throw new Error(`key-encryption key ${kekId} is current and cannot be retired`);
      return { ...content, keys: content.keys.filter((k) => k.id !== kekId) };
    });
    this.log?.info({ kekId }, 'key-encryption key retired');
  }

  /**
   * Changes the key file under its lock: reads the newest version (another process may have written it), applies
   * `edit`, and replaces the file atomically. Then this process uses the new version.
   */
  private change(edit: (content: KeyFile) => KeyFile): void {
    const lock = path.join(path.dirname(this.file), KEY_FILE_LOCK);
    let fd: number;
    try {
      fd = fs.openSync(lock, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new KeyFileLockedError(
          `${lock} exists: another key rotation is running, or one crashed; if none is running, remove the file and retry`,
        );
      }
      throw err;
    }
    try {
      fs.writeSync(fd, `${process.pid}\n`);
      const next = edit(FileKeyProvider.parse(this.file, fs.readFileSync(this.file, 'utf8')).content);
      FileKeyProvider.parse(this.file, JSON.stringify(next));
      writeAtomically(this.file, JSON.stringify(next, null, 2));
      this.stamp = '';
      this.refresh();
    } finally {
      fs.closeSync(fd);
      fs.rmSync(lock, { force: true });
    }
  }
}

/** Writes a file so that readers see the old or the new content whole, never a part, even after a power cut. */
function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  const dir = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
}
