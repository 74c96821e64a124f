/**
 * What a batch append does, apart from I/O: for each request, in order, decide its outcome (stored, duplicate,
 * mismatch, closed, not found) and, for new messages, the next seq of the conversation and the sealed text. Both
 * stores call this inside their transaction, so the rules are written once.
 *
 * Two ways to find an earlier message with the same client id: read it first (`earlier`, for every request), or, when
 * the store passes `insert`, try the insert first and read only when a row with that client id already exists. The
 * second saves a lookup per message in the common case (a new message); the outcomes are the same either way.
 */
import {
  type AppendOutcome,
  type AppendRequest,
  type AppendTarget,
  type MessageSealer,
  type StoredMessage,
  conversationAcceptsMessages,
} from './store.js';

export interface AppendPlan {
  readonly outcomes: AppendOutcome[];
  /** New rows, in seq order per conversation; already inserted when `insert` was given. */
  readonly inserts: StoredMessage[];
  /** The new last seq of each conversation that got messages. */
  readonly lastSeqs: Map<string, number>;
}

export function dedupeKey(conv: string, senderId: string, clientMsgId: string): string {
  return `${conv}\u0000${senderId}\u0000${clientMsgId}`;
}

export function planAppend(
  batch: readonly AppendRequest[],
  conversation: (id: string) => AppendTarget | undefined,
  earlier: (conv: string, senderId: string, clientMsgId: string) => StoredMessage | undefined,
  sealer: MessageSealer,
  /**
   * Inserts a new row unless one with the same (conversation, sender, client id) exists, and says whether it did.
   * When given, a request to a conversation that accepts messages is inserted first and `earlier` is asked only on
   * a conflict.
   */
  insert?: (message: StoredMessage) => boolean,
): AppendPlan {
  const lastSeqs = new Map<string, number>();
  const inBatch = new Map<string, { text: string; message: StoredMessage }>();
  const outcomes: AppendOutcome[] = [];
  const inserts: StoredMessage[] = [];
  for (const req of batch) {
    const info = conversation(req.conv);
    if (!info) {
      outcomes.push({ kind: 'not-found' });
      continue;
    }
    const key = dedupeKey(req.conv, req.senderId, req.clientMsgId);
    const twin = inBatch.get(key);
    if (twin) {
      outcomes.push(twin.text === req.text ? { kind: 'duplicate', message: twin.message } : { kind: 'mismatch' });
      continue;
    }
    const accepts = conversationAcceptsMessages(info);
    // A resend is answered with its first ack even once the conversation is closed, so look before refusing.
    if (!insert || !accepts) {
      const existing = earlier(req.conv, req.senderId, req.clientMsgId);
      if (existing) {
        outcomes.push(sameText(sealer, existing, req.text));
        continue;
      }
    }
    if (!accepts) {
      outcomes.push({ kind: 'closed' });
      continue;
    }
    const seq = (lastSeqs.get(req.conv) ?? info.lastSeq) + 1;
    const { keyId, ciphertext } = sealer.seal(info.caseId, req.conv, seq, req.text);
    const message: StoredMessage = {
      conv: req.conv,
      seq,
      senderId: req.senderId,
      senderRole: req.senderRole,
      clientMsgId: req.clientMsgId,
      keyId,
      ciphertext,
      ts: req.ts,
    };
    if (insert && !insert(message)) {
      // Stored before this batch: the seq stays free for the next message, and the sealed text is dropped.
      const existing = earlier(req.conv, req.senderId, req.clientMsgId);
      if (!existing)
        throw new Error(`insert of ${req.conv}/${req.clientMsgId} conflicted, but no earlier row was found`);
      outcomes.push(sameText(sealer, existing, req.text));
      continue;
    }
    lastSeqs.set(req.conv, seq);
    inBatch.set(key, { text: req.text, message });
    inserts.push(message);
    outcomes.push({ kind: 'stored', message });
  }
  return { outcomes, inserts, lastSeqs };
}

function sameText(sealer: MessageSealer, existing: StoredMessage, text: string): AppendOutcome {
  return sealer.open(existing) === text ? { kind: 'duplicate', message: existing } : { kind: 'mismatch' };
}
