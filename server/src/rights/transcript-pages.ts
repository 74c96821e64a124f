/**
 * A conversation's messages, decrypted, a bounded page at a time: an export or a supervisor's reading of a record of
 * years holds one page in memory, never the whole history.
 */
import type { Role } from '@therapy-chat/protocol';
import type { DataKeyRing } from '../crypto/data-keys.js';
import type { Store } from '../store/store.js';

/** Messages read from the store per page. */
export const MESSAGE_PAGE_SIZE = 500;

export interface PlainMessage {
  readonly seq: number;
  readonly ts: number;
  readonly senderId: string;
  readonly senderRole: Role;
  readonly text: string;
}

/**
 * Yields the conversation's messages oldest first, in pages of at most `pageSize`. The case's data keys must be
 * loaded (`keys.ensure(caseId)`); a message that fails to open throws (`DecryptError`), it is never skipped.
 */
export async function* messagePages(
  store: Pick<Store, 'messagesAfter'>,
  keys: DataKeyRing,
  conversationId: string,
  pageSize = MESSAGE_PAGE_SIZE,
): AsyncGenerator<PlainMessage[]> {
  let after = 0;
  for (;;) {
    const page = await store.messagesAfter(conversationId, after, pageSize);
    if (page.length === 0) return;
    yield page.map((m) => ({
      seq: m.seq,
      ts: m.ts,
      senderId: m.senderId,
      senderRole: m.senderRole,
      text: keys.open(m),
    }));
    after = page.at(-1)!.seq;
    if (page.length < pageSize) return;
  }
}

/** A time as the API and the export show it: ISO 8601, UTC. */
export const iso = (ms: number): string => new Date(ms).toISOString();
export const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));
