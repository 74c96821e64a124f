/** The default outbox: survives reconnects, not a reload or a restart. */
import { outboxKey, type Outbox, type OutboxEntry } from './outbox.js';

export class MemoryOutbox implements Outbox {
  private readonly entries = new Map<string, OutboxEntry>();

  async load(): Promise<OutboxEntry[]> {
    return [...this.entries.values()];
  }

  async add(entry: OutboxEntry): Promise<void> {
    this.entries.set(outboxKey(entry.conv, entry.clientMsgId), { ...entry });
  }

  async remove(conv: string, clientMsgId: string): Promise<void> {
    this.entries.delete(outboxKey(conv, clientMsgId));
  }

  async clear(): Promise<void> {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
