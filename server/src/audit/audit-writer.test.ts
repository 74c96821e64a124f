import { describe, expect, it, vi } from 'vitest';
import { AuditEventError } from './audit-event.js';
import { auditEvent } from './audit-sink.contract.js';
import type { AuditEvent, AuditEventInput } from './audit-sink.js';
import { AuditWriter, AuditWriteError } from './audit-writer.js';
import { MemoryAuditSink } from './memory-audit-sink.js';

/** A memory sink that records its batch sizes and can be told to fail. */
class FlakySink extends MemoryAuditSink {
  batches: number[] = [];
  failures = 0;
  override async append(events: readonly AuditEventInput[]): Promise<AuditEvent[]> {
    this.batches.push(events.length);
    if (this.failures > 0) {
      this.failures -= 1;
      throw new Error('database away');
    }
    return super.append(events);
  }
}

const turn = () => new Promise((r) => setImmediate(r));

describe('AuditWriter', () => {
  it('returns at once and writes everything recorded in one turn as one batch, on the next turn', async () => {
    const sink = new FlakySink();
    const writer = new AuditWriter({ sink });
    for (let i = 0; i < 10; i++) expect(writer.record(auditEvent(i))).toBe(true);
    expect(sink.batches).toEqual([]);
    expect(writer.pending).toBe(10);
    await writer.flush();
    expect(sink.batches).toEqual([10]);
    expect(writer.pending).toBe(0);
    expect((await sink.read(1, 100)).map((e) => e.time)).toEqual(
      Array.from({ length: 10 }, (_, i) => auditEvent(i).time),
    );
  });

  it('groups events recorded while a batch is being written into the next one, up to maxBatch', async () => {
    const sink = new FlakySink();
    const writer = new AuditWriter({ sink, maxBatch: 4 });
    writer.record(auditEvent(0));
    await turn();
    for (let i = 1; i <= 9; i++) writer.record(auditEvent(i));
    await writer.flush();
    expect(sink.batches).toEqual([1, 4, 4, 1]);
    expect(await sink.verify()).toMatchObject({ ok: true, count: 10 });
  });

  it('under a burst, starts appends at most once per minIntervalMs; after a quiet spell, on the next turn', async () => {
    const sink = new FlakySink();
    const writer = new AuditWriter({ sink, minIntervalMs: 30 });
    writer.record(auditEvent(0));
    await turn();
    expect(sink.batches).toEqual([1]);
    const started = performance.now();
    for (let i = 1; i <= 5; i++) {
      writer.record(auditEvent(i));
      await turn();
    }
    expect(sink.batches).toEqual([1]);
    await writer.flush();
    expect(sink.batches).toEqual([1, 5]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(20);
    await new Promise((r) => setTimeout(r, 40));
    writer.record(auditEvent(6));
    await turn();
    expect(sink.batches).toEqual([1, 5, 1]);
  });

  it('throws at once, and queues nothing, for a malformed event', () => {
    const writer = new AuditWriter({ sink: new MemoryAuditSink() });
    expect(() => writer.record(auditEvent(1, { reason: 'free text here' }))).toThrow(AuditEventError);
    expect(() => writer.recordAndWait(auditEvent(1, { ip: 'nope' }))).toThrow(AuditEventError);
    expect(writer.pending).toBe(0);
  });

  it('retries a failed append in order, with backoff, and reports it; healthy again once written', async () => {
    const sink = new FlakySink();
    sink.failures = 2;
    const onError = vi.fn();
    const writer = new AuditWriter({ sink, retryDelayMs: 40, onError });
    writer.record(auditEvent(1));
    writer.record(auditEvent(2));
    await vi.waitFor(() => expect(onError).toHaveBeenCalledTimes(1), { interval: 1 });
    expect(writer.healthy).toBe(false);
    writer.record(auditEvent(3));
    await writer.flush();
    expect(onError).toHaveBeenCalledTimes(2);
    expect(onError.mock.calls[0]![1]).toBe(2);
    expect(writer.healthy).toBe(true);
    expect((await sink.read(1, 10)).map((e) => e.resource?.id)).toEqual(['cv_1', 'cv_2', 'cv_3']);
  });

  it('recordAndWait resolves once written; on failure it rejects and the event is never written later', async () => {
    const sink = new FlakySink();
    const writer = new AuditWriter({ sink, retryDelayMs: 5 });
    await writer.recordAndWait(auditEvent(1));
    expect(await sink.head()).toMatchObject({ seq: 1 });
    sink.failures = 1;
    writer.record(auditEvent(2));
    const waited = writer.recordAndWait(auditEvent(3, { action: 'break-glass' }));
    await expect(waited).rejects.toBeInstanceOf(AuditWriteError);
    await writer.flush();
    expect((await sink.read(1, 10)).map((e) => e.resource?.id)).toEqual(['cv_1', 'cv_2']);
  });

  it('refuses events past maxPending, and after close', async () => {
    const writer = new AuditWriter({ sink: new MemoryAuditSink(), maxPending: 2 });
    expect(writer.record(auditEvent(1))).toBe(true);
    expect(writer.record(auditEvent(2))).toBe(true);
    expect(writer.healthy).toBe(false);
    expect(writer.record(auditEvent(3))).toBe(false);
    await expect(writer.recordAndWait(auditEvent(4))).rejects.toThrow(/full/);
    await writer.close();
    expect(writer.record(auditEvent(5))).toBe(false);
    expect(writer.dropped).toBe(3);
    expect(writer.healthy).toBe(false);
  });

  it('close drains; if the database stays away it gives up after the timeout and says how many were lost', async () => {
    const sink = new FlakySink();
    const writer = new AuditWriter({ sink, retryDelayMs: 5 });
    writer.record(auditEvent(1));
    await writer.close();
    expect(await sink.head()).toMatchObject({ seq: 1 });

    const down = new FlakySink();
    down.failures = Number.POSITIVE_INFINITY;
    const stuck = new AuditWriter({ sink: down, retryDelayMs: 5 });
    stuck.record(auditEvent(1));
    stuck.record(auditEvent(2));
    await expect(stuck.close(100)).rejects.toThrow('2 audit events were not written');
  });
});
