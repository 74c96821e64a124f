/**
 * The local side of fan-out: which connections of this node have joined which conversation. The hub subscribes to
 * the bus for a conversation while it has local members, decrypts each committed message once, and hands the same
 * encoded frame to every member (encode once per codec, write many).
 *
 * Presence spans nodes through the bus: each node publishes who is connected to a conversation on it whenever that
 * changes and every `presenceRefreshMs`, and forgets another node's list when it has not been refreshed for three
 * intervals (a node that died). A node that starts following a conversation asks the others for their lists.
 */
import { randomBytes } from 'node:crypto';
import type { ChatMessage, Member } from '@therapy-chat/protocol';
import type { Logger } from 'pino';
import type { Bus, BusEvent, BusHandler } from '../bus/bus.js';
import type { StoredMessage } from '../store/store.js';
import { chatMessage, OutboundFrame } from './outbound.js';
import type { Subscription } from './subscription.js';
import { withAppointmentStatus } from '../appointments/appointment-transitions.js';

/** Where the hub sends ephemeral frames (typing, presence), which a busy connection may drop. */
export interface EphemeralSink {
  writeEphemeral(connectionId: string, frame: OutboundFrame): void;
  /** For frames that must not be shed (appointment changes). */
  writeEssential(connectionId: string, frame: OutboundFrame): void;
}

interface Room {
  readonly subs: Set<Subscription>;
  readonly handler: BusHandler;
  readonly ready: Promise<void>;
  /** Role per member user connected here, for presence. */
  readonly roles: Map<string, Member['role']>;
  /** Other nodes' members, with when they were last heard. */
  readonly remote: Map<string, { members: readonly Member[]; seenAt: number }>;
  /** The presence last announced to local members, to announce only changes. */
  lastAnnounced: string;
}

export interface HubOptions {
  readonly bus: Bus;
  readonly decrypt: (message: StoredMessage) => ChatMessage;
  readonly sink: EphemeralSink;
  readonly log: Logger;
  readonly now: () => number;
  /** How often each node republishes its presence. Default 10,000 ms. */
  readonly presenceRefreshMs?: number;
}

export class Hub {
  /** This node, in presence events. */
  readonly node = `n_${randomBytes(6).toString('base64url')}`;
  private readonly rooms = new Map<string, Room>();
  private readonly bus: Bus;
  private readonly refreshMs: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: HubOptions) {
    this.bus = options.bus;
    this.refreshMs = options.presenceRefreshMs ?? 10_000;
    this.bus.onResync(() => this.resync());
  }

  /** Starts republishing presence and expiring other nodes' lists. */
  start(): void {
    this.timer = setInterval(() => this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Every local member checks the store for messages the bus may have lost. */
  resync(): void {
    for (const room of this.rooms.values()) for (const sub of room.subs) sub.resync();
  }

  get conversationCount(): number {
    return this.rooms.size;
  }

  /** Adds a member; resolves once bus events for the conversation are sure to reach it. */
  async add(sub: Subscription, role: Member['role']): Promise<void> {
    let room = this.rooms.get(sub.conv);
    if (!room) {
      const conv = sub.conv;
      const handler: BusHandler = (_conv, event) => this.onEvent(conv, event);
      const ready = this.bus.subscribe(conv, handler).then(() => {
        this.bus.publish(conv, { kind: 'presence-query', conv, node: this.node });
      });
      room = { subs: new Set(), handler, ready, roles: new Map(), remote: new Map(), lastAnnounced: '' };
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
        this.options.log.warn({ err, conv: sub.conv }, 'bus unsubscribe failed');
      });
      // Tell the other nodes nobody is here any more.
      this.bus.publish(sub.conv, { kind: 'presence', conv: sub.conv, node: this.node, members: [] });
    } else if (![...room.subs].some((s) => s.userId === sub.userId)) {
      room.roles.delete(sub.userId);
    }
  }

  /** Who is connected to the conversation, on every node. */
  members(conv: string): Member[] {
    const room = this.rooms.get(conv);
    if (!room) return [];
    const all = new Map<string, Member['role']>(room.roles);
    for (const { members } of room.remote.values()) for (const m of members) all.set(m.user, m.role);
    return [...all].map(([user, role]) => ({ user, role })).sort((a, b) => a.user.localeCompare(b.user));
  }

  /**
   * Local membership changed: tell the other nodes, and local members if the whole picture changed. Returns whether
   * local members were told.
   */
  presenceChanged(conv: string): boolean {
    const room = this.rooms.get(conv);
    if (!room) return false;
    this.publishPresence(conv, room);
    return this.announce(conv, room);
  }

  private publishPresence(conv: string, room: Room): void {
    const members = [...room.roles].map(([user, role]) => ({ user, role }));
    this.bus.publish(conv, { kind: 'presence', conv, node: this.node, members });
  }

  private announce(conv: string, room: Room): boolean {
    const members = this.members(conv);
    const key = JSON.stringify(members);
    if (key === room.lastAnnounced) return false;
    room.lastAnnounced = key;
    const frame = new OutboundFrame({ type: 'presence', conv, members });
    for (const sub of room.subs) this.options.sink.writeEphemeral(sub.connectionId, frame);
    return true;
  }

  /** Sends the current presence to one member (just joined), whether or not it changed. */
  presenceTo(sub: Subscription): void {
    this.options.sink.writeEphemeral(
      sub.connectionId,
      new OutboundFrame({ type: 'presence', conv: sub.conv, members: this.members(sub.conv) }),
    );
  }

  private refresh(): void {
    const expired = this.options.now() - 3 * this.refreshMs;
    for (const [conv, room] of this.rooms) {
      this.publishPresence(conv, room);
      let changed = false;
      for (const [node, entry] of room.remote) {
        if (entry.seenAt < expired) {
          room.remote.delete(node);
          changed = true;
        }
      }
      if (changed) this.announce(conv, room);
    }
  }

  /**
   * A message this node has just committed, with its plaintext: its members get it now, without a decryption; the
   * bus copy that follows is then not wanted by any of them.
   */
  deliverLocal(message: StoredMessage, text: string): void {
    const room = this.rooms.get(message.conv);
    if (!room) return;
    const frame = new OutboundFrame({ type: 'msg', ...chatMessage(message, text) });
    for (const sub of room.subs) sub.offer(message.seq, frame);
  }

  private wanted(room: Room, seq: number): boolean {
    for (const sub of room.subs) if (sub.wants(seq)) return true;
    return false;
  }

  private onEvent(conv: string, event: BusEvent): void {
    const room = this.rooms.get(conv);
    if (!room) return;
    switch (event.kind) {
      case 'message': {
        // Usually every member here already has it (committed on this node, or a second copy): skip the decryption.
        if (!this.wanted(room, event.message.seq)) return;
        let frame: OutboundFrame;
        try {
          frame = new OutboundFrame({ type: 'msg', ...this.options.decrypt(event.message) });
        } catch (err) {
          // Members will find the message in the store through their gap check.
          this.options.log.error(
            { err, conv, seq: event.message.seq },
            'could not decrypt a committed message from the bus',
          );
          return;
        }
        for (const sub of room.subs) sub.offer(event.message.seq, frame);
        return;
      }
      case 'appointment': {
        const { kind: _kind, ...notice } = event;
        const frame = new OutboundFrame({ type: 'appointment', ...notice });
        // The cached status decides sends and the waiting room on this node: move it on before telling the member.
        for (const sub of room.subs) {
          sub.info = withAppointmentStatus(sub.info, event.status);
          this.options.sink.writeEssential(sub.connectionId, frame);
        }
        return;
      }
      case 'head':
        for (const sub of room.subs) if (sub.lastDelivered < event.seq) sub.resync();
        return;
      case 'presence':
        if (event.node === this.node) return;
        if (event.members.length === 0) room.remote.delete(event.node);
        else room.remote.set(event.node, { members: event.members, seenAt: this.options.now() });
        this.announce(conv, room);
        return;
      case 'presence-query':
        if (event.node !== this.node) this.publishPresence(conv, room);
        return;
      case 'typing': {
        const frame = new OutboundFrame({
          type: 'typing',
          conv,
          user: event.user,
          role: event.role,
          active: event.active,
        });
        for (const sub of room.subs)
          if (sub.connectionId !== event.origin) this.options.sink.writeEphemeral(sub.connectionId, frame);
        return;
      }
    }
  }
}
