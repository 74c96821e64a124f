import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../bus/memory-bus.js';
import { createLogger } from '../logger.js';
import type { ConversationInfo, StoredMessage } from '../store/store.js';
import { Hub } from './hub.js';
import type { OutboundFrame } from './outbound.js';
import { Subscription, type SubscriptionHost } from './subscription.js';
import { caseAccessOf } from '../policy/access-policy.js';

const info: ConversationInfo = {
  id: 'cv_1',
  kind: 'appointment',
  caseId: 'case_1',
  caseStatus: 'active',
  patientId: 'u_p',
  therapistId: 'u_t',
  supervisorId: null,
  dischargedAt: null,
  restrictedAt: null,
  shreddedAt: null,
  appointmentId: 'ap_1',
  appointmentStatus: 'live',
  lastSeq: 0,
};

const message = (seq: number): StoredMessage => ({
  conv: 'cv_1',
  seq,
  senderId: 'u_p',
  senderRole: 'patient',
  clientMsgId: `m${seq}`,
  keyId: 'k',
  ciphertext: Buffer.from(`sealed ${seq}`),
  ts: 1,
});

function member(connectionId: string) {
  const frames: OutboundFrame[] = [];
  const host: SubscriptionHost = {
    connectionId,
    userId: 'u_t',
    write: (f) => frames.push(f) > 0,
    backlogged: () => false,
    writable: () => Promise.resolve(),
    readPage: () => Promise.resolve([]),
    decrypt: () => {
      throw new Error('not used');
    },
    fail: (err) => {
      throw err;
    },
  };
  const sub = new Subscription(host, info, caseAccessOf(info));
  return { sub, texts: () => frames.map((f) => (f.frame.type === 'msg' ? f.frame.text : f.frame.type)) };
}

function node(bus: MemoryBus) {
  const decrypted: number[] = [];
  const hub = new Hub({
    bus,
    decrypt: (m) => {
      decrypted.push(m.seq);
      return {
        conv: m.conv,
        seq: m.seq,
        from: m.senderId,
        role: m.senderRole,
        clientMsgId: m.clientMsgId,
        text: `opened ${m.seq}`,
        ts: m.ts,
      };
    },
    sink: { writeEphemeral: () => {}, writeEssential: () => {} },
    log: createLogger('silent'),
    now: () => 1,
  });
  return { hub, decrypted };
}

describe('local delivery of committed messages', () => {
  it('gives this node’s members the plaintext it has, and decrypts the bus copy only for members that lack it', async () => {
    const bus = new MemoryBus();
    const here = node(bus);
    const there = node(bus);
    const a = member('c_a');
    const b = member('c_b');
    await here.hub.add(a.sub, 'therapist');
    await there.hub.add(b.sub, 'therapist');
    a.sub.start(0);
    b.sub.start(0);
    await new Promise((r) => setTimeout(r, 10)); // the catch-ups find nothing and go live

    for (const seq of [1, 2]) {
      here.hub.deliverLocal(message(seq), `text ${seq}`);
      bus.publish('cv_1', { kind: 'message', message: message(seq) });
    }

    expect(a.texts()).toEqual(['text 1', 'text 2']);
    expect(here.decrypted).toEqual([]);
    expect(b.texts()).toEqual(['opened 1', 'opened 2']);
    expect(there.decrypted).toEqual([1, 2]);
  });

  it('holds a local message that arrives during a catch-up, once, in order', async () => {
    const bus = new MemoryBus();
    const here = node(bus);
    const a = member('c_a');
    await here.hub.add(a.sub, 'patient');
    a.sub.start(0);
    here.hub.deliverLocal(message(1), 'text 1');
    bus.publish('cv_1', { kind: 'message', message: message(1) });
    await new Promise((r) => setTimeout(r, 10));
    expect(a.texts()).toEqual(['text 1']);
    expect(here.decrypted).toEqual([]);
  });
});
