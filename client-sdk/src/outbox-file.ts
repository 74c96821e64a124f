/**
 * A simple file-backed outbox for Node (bots, command-line tools, tests): one JSON file, rewritten whole and replaced
 * atomically (write to a temporary file, fsync, rename) on every change, so a crash leaves either the old or the new
 * content. Meant for tens of pending messages, not thousands. Not for concurrent use by two processes.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { isOutboxEntry, outboxKey, type Outbox, type OutboxEntry } from './outbox.js';

export class FileOutbox implements Outbox {
  private entries: Map<string, OutboxEntry> | undefined;
  private writing: Promise<void> = Promise.resolve();

  /** @param file Path of the JSON file; its directory is created if missing. */
  constructor(readonly file: string) {}

  private async read(): Promise<Map<string, OutboxEntry>> {
    if (this.entries) return this.entries;
    let list: unknown = [];
    try {
      list = JSON.parse(await readFile(this.file, 'utf8')) as unknown;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const map = new Map<string, OutboxEntry>();
    if (Array.isArray(list)) for (const e of list) if (isOutboxEntry(e)) map.set(outboxKey(e.conv, e.clientMsgId), e);
    this.entries ??= map;
    return this.entries;
  }

  /** Writes are chained so that the file always ends with the latest content. */
  private persist(): Promise<void> {
    const snapshot = JSON.stringify([...(this.entries?.values() ?? [])]);
    const write = this.writing.then(async () => {
      await mkdir(path.dirname(this.file), { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(snapshot, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.file);
    });
    this.writing = write.catch(() => {});
    return write;
  }

  async load(): Promise<OutboxEntry[]> {
    return [...(await this.read()).values()];
  }

  async add(entry: OutboxEntry): Promise<void> {
    (await this.read()).set(outboxKey(entry.conv, entry.clientMsgId), { ...entry });
    await this.persist();
  }

  async remove(conv: string, clientMsgId: string): Promise<void> {
    if (!(await this.read()).delete(outboxKey(conv, clientMsgId))) return;
    await this.persist();
  }

  async clear(): Promise<void> {
    (await this.read()).clear();
    await this.persist();
  }
}
