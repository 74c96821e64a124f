/**
 * The outbox: messages the user has sent that the server has not acknowledged yet. An entry is added before the
 * message is first sent and removed only after its `ack` (or a final refusal), and a resend always carries the same
 * `clientMsgId`, so the server stores it once however often it is sent.
 *
 * Storage is pluggable. `MemoryOutbox` (default) survives reconnects; `IndexedDbOutbox` (browsers) and `FileOutbox`
 * (Node) also survive a page reload or a restart of the process. The unsent text is stored on the device in clear:
 * use one outbox per user (for example, a name that includes the user id) and `clear()` it on logout.
 */
export interface OutboxEntry {
  readonly conv: string;
  readonly clientMsgId: string;
  readonly text: string;
  /** When `send()` was called (ms since the epoch). */
  readonly createdAt: number;
  /** Sending order: entries of a conversation go out by increasing `order`. */
  readonly order: number;
}

export interface Outbox {
  /** Every entry not yet removed, in any order. */
  load(): Promise<OutboxEntry[]>;
  /** Stores an entry durably (as durable as the store is) before it is first sent. */
  add(entry: OutboxEntry): Promise<void>;
  /** Forgets an entry once the server has acknowledged (or finally refused) it. Removing a missing entry is a no-op. */
  remove(conv: string, clientMsgId: string): Promise<void>;
  /** Forgets everything, for example on logout. */
  clear(): Promise<void>;
}

/** The key of an entry in stores that need a single string key. */
export function outboxKey(conv: string, clientMsgId: string): string {
  return `${conv} ${clientMsgId}`;
}

export function sortOutbox(entries: readonly OutboxEntry[]): OutboxEntry[] {
  return [...entries].sort((a, b) => a.order - b.order || a.createdAt - b.createdAt);
}

/** Checks a stored value before trusting it: storage may hold anything after a version change or tampering. */
export function isOutboxEntry(value: unknown): value is OutboxEntry {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v['conv'] === 'string' &&
    typeof v['clientMsgId'] === 'string' &&
    typeof v['text'] === 'string' &&
    typeof v['createdAt'] === 'number' &&
    typeof v['order'] === 'number'
  );
}
