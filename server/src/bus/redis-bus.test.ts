import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { privateRedis, redis, REDIS_URL } from '../../test/helpers/services.js';
import { describeBusContract } from './bus.contract.js';
import type { BusEvent } from './bus.js';
import { RedisBus } from './redis-bus.js';

const available = (await redis()).available;
const log = pino({ level: 'silent' });
const open: RedisBus[] = [];

async function bus(options: { url?: string; sharded?: boolean; prefix?: string } = {}): Promise<RedisBus> {
  const b = new RedisBus({
    url: options.url ?? REDIS_URL,
    log,
    prefix: options.prefix ?? `t${randomBytes(4).toString('hex')}`,
    sharded: options.sharded,
  });
  open.push(b);
  await b.ready();
  return b;
}

afterEach(async () => {
  for (const b of open.splice(0)) await b.close();
});

async function eventually(cond: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.skipIf(!available)('RedisBus', () => {
  describeBusContract('Redis pub/sub', () => bus());
  describeBusContract('Redis sharded pub/sub', () => bus({ sharded: true }));

  for (const sharded of [false, true]) {
    it(`carries events between nodes${sharded ? ' (sharded)' : ''}, ciphertext bytes intact`, async () => {
      const prefix = `t${randomBytes(4).toString('hex')}`;
      const a = await bus({ prefix, sharded });
      const b = await bus({ prefix, sharded });
      const got: BusEvent[] = [];
      await b.subscribe('cv_x', (_c, e) => got.push(e));
      const ciphertext = randomBytes(64);
      a.publish('cv_x', {
        kind: 'message',
        message: {
          conv: 'cv_x',
          seq: 1,
          senderId: 'u_1',
          senderRole: 'patient',
          clientMsgId: 'm1',
          keyId: 'dek_1',
          ciphertext,
          ts: 5,
        },
      });
      await eventually(() => got.length === 1);
      const e = got[0]!;
      expect(e.kind === 'message' && Buffer.from(e.message.ciphertext).equals(ciphertext)).toBe(true);
    });
  }

  it('when its Redis restarts: reports unhealthy, counts failed publishes, then resyncs and announces the lost heads', async () => {
    const server = await privateRedis();
    const failures: number[] = [];
    const prefix = 'tr';
    const a = new RedisBus({ url: server.url, log, prefix, onPublishError: () => failures.push(1) });
    const b = new RedisBus({ url: server.url, log, prefix });
    open.push(a, b);
    await a.ready();
    await b.ready();
    let resyncs = 0;
    b.onResync(() => resyncs++);
    const got: BusEvent[] = [];
    await b.subscribe('cv_r', (_c, e) => got.push(e));

    await server.kill();
    await eventually(() => !a.healthy && !b.healthy);
    a.publish('cv_r', { kind: 'head', conv: 'cv_r', seq: 41 });
    a.publish('cv_r', { kind: 'head', conv: 'cv_r', seq: 42 });
    await eventually(() => failures.length === 2);

    await server.start();
    await eventually(() => a.healthy && b.healthy, 10_000);
    await eventually(() => resyncs === 1);
    // The subscription came back by itself, and the publisher announced how far cv_r got while Redis was away.
    await eventually(() => got.some((e) => e.kind === 'head' && e.seq === 42), 5000);
    await server.kill();
  });
});
