/**
 * What a batch append does, apart from I/O: for each request, in order, decide its outcome (stored, duplicate,
 * mismatch, closed, not found) and, for new messages, the next seq of the conversation and the sealed text. Both
 * stores call this inside their transaction, after reading the conversations and any earlier messages with the same
 * client ids, so the rules are written once.
 */
import {
  type AppendOutcome,
  type AppendRequest,
  type ConversationInfo,
  type MessageSealer,
  type StoredMessage,
  conversationAcceptsMessages,
} from './store.js';

export interface AppendPlan {
  readonly outcomes: AppendOutcome[];
  /** New rows, in seq order per conversation. */
  readonly inserts: StoredMessage[];
  /** The new last seq of each conversation that got messages. */
  readonly lastSeqs: Map<string, number>;
}

export function dedupeKey(conv: string, senderId: string, clientMsgId: string): string {
  return `${conv}\u0000${senderId}\u0000${clientMsgId}`;
}

export function planAppend(
  batch: readonly AppendRequest[],
  conversation: (id: string) => ConversationInfo | undefined,
  earlier: (conv: string, senderId: string, clientMsgId: string) => StoredMessage | undefined,
  sealer: MessageSealer,
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
    const existing = earlier(req.conv, req.senderId, req.clientMsgId);
    if (existing) {
      outcomes.push(
        sealer.open(existing) === req.text ? { kind: 'duplicate', message: existing } : { kind: 'mismatch' },
      );
      continue;
    }
    if (!conversationAcceptsMessages(info)) {
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
    lastSeqs.set(req.conv, seq);
    inBatch.set(key, { text: req.text, message });
    inserts.push(message);
    outcomes.push({ kind: 'stored', message });
  }
  return { outcomes, inserts, lastSeqs };
}
