/**
 * A server frame encoded at most once per codec, however many connections it goes to ("encode once, write many").
 */
import { type ChatMessage, codecFor, type ServerFrame, type Subprotocol } from '@therapy-chat/protocol';
import type { StoredMessage } from '../store/store.js';

export class OutboundFrame {
  private msgpack: Uint8Array | string | undefined;
  private json: Uint8Array | string | undefined;

  constructor(readonly frame: ServerFrame) {}

  encoded(subprotocol: Subprotocol): Uint8Array | string {
    if (subprotocol === 'therapy-chat.v1.msgpack') return (this.msgpack ??= codecFor(subprotocol).encode(this.frame));
    return (this.json ??= codecFor(subprotocol).encode(this.frame));
  }
}

/** A stored message as clients see it, with its text. */
export function chatMessage(m: StoredMessage, text: string): ChatMessage {
  return { conv: m.conv, seq: m.seq, from: m.senderId, role: m.senderRole, clientMsgId: m.clientMsgId, text, ts: m.ts };
}
