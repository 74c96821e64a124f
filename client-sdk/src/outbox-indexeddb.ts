/**
 * An outbox in IndexedDB, for browsers: a message typed while offline survives a page reload and is sent (once) when
 * the page comes back and joins the conversation again. Uses no library: one database, one object store.
 */
import { isOutboxEntry, outboxKey, type Outbox, type OutboxEntry } from './outbox.js';

const STORE = 'outbox';
const VERSION = 1;

interface Row extends OutboxEntry {
  readonly key: string;
}

export interface IndexedDbOutboxOptions {
  /** Database name. Default `therapy-chat-outbox`; use one per user, for example `therapy-chat-outbox:<userId>`. */
  readonly name?: string;
  /** The IndexedDB factory. Default: `globalThis.indexedDB`. */
  readonly indexedDB?: IDBFactory;
}

function done<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB request failed'));
  });
}

function committed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

export class IndexedDbOutbox implements Outbox {
  readonly name: string;
  private readonly factory: IDBFactory | undefined;
  private db: Promise<IDBDatabase> | undefined;

  constructor(options: IndexedDbOutboxOptions = {}) {
    this.name = options.name ?? 'therapy-chat-outbox';
    this.factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  }

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise<IDBDatabase>((resolve, reject) => {
      if (!this.factory) return reject(new Error('IndexedDB is not available here'));
      const request = this.factory.open(this.name, VERSION);
      request.onupgradeneeded = () => {
        if (!request.result.objectStoreNames.contains(STORE))
          request.result.createObjectStore(STORE, { keyPath: 'key' });
      };
      request.onsuccess = () => {
        const db = request.result;
        // Another tab upgrading the database: let it, and reopen on next use.
        db.onversionchange = () => {
          db.close();
          this.db = undefined;
        };
        resolve(db);
      };
      request.onerror = () => reject(request.error ?? new Error(`could not open IndexedDB database ${this.name}`));
      request.onblocked = () => reject(new Error(`IndexedDB database ${this.name} is blocked by another tab`));
    });
    this.db.catch(() => (this.db = undefined));
    return this.db;
  }

  async load(): Promise<OutboxEntry[]> {
    const db = await this.open();
    const rows = await done(db.transaction(STORE, 'readonly').objectStore(STORE).getAll());
    return (rows as unknown[]).filter(isOutboxEntry).map(({ conv, clientMsgId, text, createdAt, order }) => ({
      conv,
      clientMsgId,
      text,
      createdAt,
      order,
    }));
  }

  async add(entry: OutboxEntry): Promise<void> {
    const db = await this.open();
    const tx = db.transaction(STORE, 'readwrite');
    const row: Row = { ...entry, key: outboxKey(entry.conv, entry.clientMsgId) };
    tx.objectStore(STORE).put(row);
    await committed(tx);
  }

  async remove(conv: string, clientMsgId: string): Promise<void> {
    const db = await this.open();
    const tx = db.transaction(STORE, 'readwrite');
    tx.objectStore(STORE).delete(outboxKey(conv, clientMsgId));
    await committed(tx);
  }

  async clear(): Promise<void> {
    const db = await this.open();
    const tx = db.transaction(STORE, 'readwrite');
    tx.objectStore(STORE).clear();
    await committed(tx);
  }

  /** Closes the database connection (a later call reopens it). */
  close(): void {
    const db = this.db;
    this.db = undefined;
    void db?.then((d) => d.close()).catch(() => {});
  }
}
