/**
 * The local side of fan-out: which connections of this node have joined which conversation. The hub subscribes to
 * the bus for a conversation while it has local members, decrypts each committed message once, and hands the same
 * encoded frame to every member (encode once per codec, write many).
 */
import type { ChatMessage, Member } from '@therapy-chat/protocol';
import type { Logger } from 'pino';
import type { Bus, BusEvent, BusHandler } from '../bus/bus.js';
import type { StoredMessage } from '../store/store.js';
import { OutboundFrame } from './outbound.js';
import type { Subscription } from './subscription.js';

/** Where the hub sends ephemeral frames (typing, presence), which a busy connection may drop. */
export interface EphemeralSink {
  writeEphemeral(connectionId: string, frame: OutboundFrame): void;
}

interface Room {
  readonly subs: Set<Subscription>;
  readonly handler: BusHandler;
  readonly ready: Promise<void>;
  /** Role per member user, for presence. */
  readonly roles: Map<string, Member['role']>;
}

export class Hub {
  private readonly rooms = new Map<string, Room>();

  constructor(
    private readonly bus: Bus,
    private readonly decrypt: (message: StoredMessage) => ChatMessage,
    private readonly sink: EphemeralSink,
    private readonly log: Logger,
  ) {
    bus.onResync(() => this.resync());
  }

  /** Every local member checks the store for messages the bus may have lost. */
  resync(): void {
    for (const room of this.rooms.values()) for (const sub of room.subs) sub.resync();
  }

  /** Adds a member; resolves once bus events for the conversation are sure to reach it. */
  async add(sub: Subscription, role: Member['role']): Promise<void> {
    let room = this.rooms.get(sub.conv);
    if (!room) {
      const conv = sub.conv;
      const handler: BusHandler = (_conv, event) => this.onEvent(conv, event);
      room = { subs: new Set(), handler, ready: this.bus.subscribe(conv, handler), roles: new Map() };
      this.rooms.set(conv, room);
    }
    room.subs.add(sub);
    room.roles.set(sub.userId, role);
    await room.ready;
  }

  remove(sub: Subscription): void {
    const room = this.rooms.get(sub.conv);
    if (!room || !room.subs.delete(sub)) return;
    if (room.subs.size === 0) {
      this.rooms.delete(sub.conv);
      this.bus.unsubscribe(sub.conv, room.handler).catch((err: unknown) => {
        this.log.warn({ err, conv: sub.conv }, 'bus unsubscribe failed');
      });
    } else if (![...room.subs].some((s) => s.userId === sub.userId)) {
      room.roles.delete(sub.userId);
    }
  }

  /** Who is connected to the conversation on this node. */
  members(conv: string): Member[] {
    const room = this.rooms.get(conv);
    if (!room) return [];
    return [...room.roles].map(([user, role]) => ({ user, role })).sort((a, b) => a.user.localeCompare(b.user));
  }

  /** Tells every member who is connected now. */
  announcePresence(conv: string): void {
    const room = this.rooms.get(conv);
    if (!room) return;
    const frame = new OutboundFrame({ type: 'presence', conv, members: this.members(conv) });
    for (const sub of room.subs) this.sink.writeEphemeral(sub.connectionId, frame);
  }

  get conversationCount(): number {
    return this.rooms.size;
  }

  private onEvent(conv: string, event: BusEvent): void {
    const room = this.rooms.get(conv);
    if (!room) return;
    if (event.kind === 'message') {
      let frame: OutboundFrame;
      try {
        frame = new OutboundFrame({ type: 'msg', ...this.decrypt(event.message) });
      } catch (err) {
        // Members will find the message in the store through their gap check.
        this.log.error({ err, conv, seq: event.message.seq }, 'could not decrypt a committed message from the bus');
        return;
      }
      for (const sub of room.subs) sub.offer(event.message.seq, frame);
      return;
    }
    if (event.kind === 'head') {
      for (const sub of room.subs) if (sub.lastDelivered < event.seq) sub.resync();
      return;
    }
    const frame = new OutboundFrame({
      type: 'typing',
      conv,
      user: event.user,
      role: event.role,
      active: event.active,
    });
    for (const sub of room.subs)
      if (sub.connectionId !== event.origin) this.sink.writeEphemeral(sub.connectionId, frame);
  }
}
