import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  applyEvent,
  type CheckEvent,
  checkEventStream,
  DeliveryChecker,
  mergeResults,
  violations,
} from '../src/checker.js';
import { cli, tempDir } from './helpers.js';

/** Two participants; seqs 1–5 acknowledged; `b` receives what `order` says. */
function stream(order: readonly number[]): CheckEvent[] {
  const events: CheckEvent[] = [
    { ev: 'member', conv: 'c1', user: 'a' },
    { ev: 'member', conv: 'c1', user: 'b' },
  ];
  for (let s = 1; s <= 5; s++) events.push({ ev: 'ack', conv: 'c1', clientMsgId: `m${s}`, seq: s });
  for (let s = 1; s <= 5; s++) events.push({ ev: 'msg', conv: 'c1', user: 'a', seq: s, clientMsgId: `m${s}` });
  for (const s of order) events.push({ ev: 'msg', conv: 'c1', user: 'b', seq: s, clientMsgId: `m${s}` });
  return events;
}

function check(events: readonly CheckEvent[]) {
  const c = new DeliveryChecker();
  for (const e of events) applyEvent(c, e);
  return c.result();
}

describe('the delivery checker', () => {
  it('passes a stream where every acknowledged message reaches everyone once, in order', () => {
    const r = check(stream([1, 2, 3, 4, 5]));
    expect(r).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0, mismatched: 0, ackConflicts: 0, acked: 5 });
    expect(r.expectedDeliveries).toBe(10);
    expect(violations(r)).toBe(0);
  });

  it('counts a lost message', () => {
    const r = check(stream([1, 2, 4, 5]));
    expect(r).toMatchObject({ lost: 1, duplicated: 0, outOfOrder: 0 });
    expect(r.examples.join('\n')).toContain('never received acknowledged seq 3');
  });

  it('counts a duplicated message, also one received again after a reconnect', () => {
    expect(check(stream([1, 2, 2, 3, 4, 5]))).toMatchObject({ lost: 0, duplicated: 1, outOfOrder: 0 });
    expect(check(stream([1, 2, 3, 4, 5, 3]))).toMatchObject({ lost: 0, duplicated: 1, outOfOrder: 0 });
  });

  it('counts a reordered message once', () => {
    expect(check(stream([1, 3, 2, 4, 5]))).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 1 });
  });

  it('counts a lost, a duplicated and a reordered message in one stream, each once', () => {
    const r = check(stream([1, 1, 3, 2, 5]));
    expect(r).toMatchObject({ lost: 1, duplicated: 1, outOfOrder: 1, mismatched: 0, ackConflicts: 0 });
    expect(violations(r)).toBe(3);
  });

  it('counts participants that disagree on the order, and a resend acknowledged under another seq', () => {
    const events = stream([1, 2, 3, 4, 5]);
    // b received m4 as seq 5 and m5 as seq 4: not what was acknowledged, not what a saw.
    const swapped = events.map((e) =>
      e.ev === 'msg' && e.user === 'b' && e.seq >= 4 ? { ...e, clientMsgId: e.seq === 4 ? 'm5' : 'm4' } : e,
    );
    expect(check(swapped).mismatched).toBeGreaterThan(0);
    const conflict = [...events, { ev: 'ack', conv: 'c1', clientMsgId: 'm2', seq: 6 } as CheckEvent];
    expect(check(conflict).ackConflicts).toBe(1);
  });

  it('does not count a message that was received but whose ack never came back', () => {
    const events = stream([1, 2, 3, 4, 5]);
    events.push({ ev: 'msg', conv: 'c1', user: 'a', seq: 6, clientMsgId: 'm6' });
    events.push({ ev: 'msg', conv: 'c1', user: 'b', seq: 6, clientMsgId: 'm6' });
    const r = check(events);
    expect(violations(r)).toBe(0);
    expect(r.receivedUnacked).toBe(1);
  });

  it('knows where each participant would resume, and what is still owed', () => {
    const c = new DeliveryChecker();
    for (const e of stream([1, 2, 4])) applyEvent(c, e);
    expect(c.contiguous('c1', 'a')).toBe(5);
    expect(c.contiguous('c1', 'b')).toBe(2);
    expect(c.outstanding()).toBe(2);
  });

  it('adds up the results of several workers', () => {
    const r = mergeResults([check(stream([1, 2, 4, 5])), check(stream([1, 1, 2, 3, 4, 5]))]);
    expect(r).toMatchObject({ lost: 1, duplicated: 1, acked: 10, conversations: 2 });
  });

  it('reads an NDJSON event stream and refuses a malformed line', () => {
    const text = stream([1, 3, 2, 4, 5])
      .map((e) => JSON.stringify(e))
      .join('\n');
    expect(checkEventStream(text).outOfOrder).toBe(1);
    expect(() => checkEventStream(`${text}\n{"ev":"msg","conv":"c1"}`)).toThrow(/line 18/);
  });

  it('makes `loadtest verify` print each count and exit non-zero for a lost, a duplicated and a reordered message', async () => {
    const file = path.join(tempDir(), 'synthetic.ndjson');
    fs.writeFileSync(
      file,
      stream([1, 1, 3, 2, 5])
        .map((e) => JSON.stringify(e))
        .join('\n'),
    );
    const run = await cli('cli', ['verify', file]);
    expect(run.stdout).toContain('lost 1, duplicated 1, out of order 1');
    expect(run.stdout).toContain('FAIL: 3 violations');
    expect(run.code).toBe(1);
    fs.writeFileSync(
      file,
      stream([1, 2, 3, 4, 5])
        .map((e) => JSON.stringify(e))
        .join('\n'),
    );
    const clean = await cli('cli', ['verify', file]);
    expect(clean.stdout).toContain('PASS');
    expect(clean.code).toBe(0);
  });
});
