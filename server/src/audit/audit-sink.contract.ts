/**
 * The contract every AuditSink implementation passes. Each implementation's test file calls `describeAuditSinkContract`
 * with a factory for a fresh, empty log, a second sink on the same log (a second node), and raw access to its storage
 * to tamper with — the way an attacker with database access would, bypassing the sink.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chainAuditContents, GENESIS_HASH, hashAuditRecord } from './audit-chain.js';
import { AuditEventError, toAuditContent, type AuditRecord } from './audit-event.js';
import type { AuditEventInput, AuditHead, AuditSink } from './audit-sink.js';
import { AuditWriter } from './audit-writer.js';

/** The storage under a sink, reached around it. Mutations bypass any append-only guard of the database. */
export interface AuditTamper {
  /** Every stored row, in seq order, exactly as stored. */
  rows(): Promise<AuditRecord[]>;
  /** Overwrites the row at `seq` with `values` (which may include a new `seq`). */
  update(seq: number, values: Partial<AuditRecord>): Promise<void>;
  delete(seq: number): Promise<void>;
  insert(record: AuditRecord): Promise<void>;
  setHead(head: AuditHead): Promise<void>;
  /**
   * Tries to update and to delete an event through an ordinary connection, as the application could; resolves with
   * the errors. Absent where the storage has no guard of its own (memory).
   */
  tryOrdinaryWrites?(): Promise<{ update: unknown; delete: unknown }>;
}

export interface AuditSinkFixture {
  /** A fresh, empty log. */
  readonly sink: AuditSink;
  /** Another sink on the same log, as a second node opens it (its own connection or pool). */
  another(): Promise<AuditSink>;
  readonly tamper: AuditTamper;
  /** Closes everything the fixture opened (the sinks included) and removes what it created. */
  cleanup(): Promise<void>;
}

/** A plausible event, distinct per `i`. */
export function auditEvent(i: number, over: Partial<AuditEventInput> = {}): AuditEventInput {
  return {
    actor: { userId: `u_${i % 7}`, role: i % 2 ? 'therapist' : 'patient' },
    action: i % 3 ? 'conversation.join' : 'history.read',
    resource: { type: 'conversation', id: `cv_${i}` },
    outcome: i % 5 ? 'granted' : 'refused',
    reason: i % 5 ? 'participant' : 'not-participant',
    time: 1_700_000_000_000 + i,
    ip: i % 2 ? '203.0.113.7' : '2001:db8::1',
    device: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0',
    ...over,
  };
}

export function describeAuditSinkContract(name: string, factory: () => Promise<AuditSinkFixture>): void {
  describe(`AuditSink contract: ${name}`, () => {
    let fx: AuditSinkFixture;
    let sink: AuditSink;

    beforeEach(async () => {
      fx = await factory();
      sink = fx.sink;
    });

    afterEach(async () => {
      await fx.cleanup();
    });

    /** Appends events 1..n in batches of 3 and returns the stored rows. */
    async function logOf(n: number): Promise<AuditRecord[]> {
      for (let i = 1; i <= n; i += 3)
        await sink.append(Array.from({ length: Math.min(3, n - i + 1) }, (_, k) => auditEvent(i + k)));
      return fx.tamper.rows();
    }

    const row = (rows: AuditRecord[], seq: number): AuditRecord => rows.find((r) => r.seq === seq)!;
    const chainFields = (r: AuditRecord): Omit<AuditRecord, 'seq'> => {
      const { seq: _seq, ...rest } = r;
      return rest;
    };

    it('an empty log verifies, with the genesis head', async () => {
      expect(await sink.head()).toEqual({ seq: 0, hash: GENESIS_HASH });
      expect(await sink.verify()).toEqual({ ok: true, count: 0, headSeq: 0, headHash: GENESIS_HASH });
      expect(await sink.read(1, 10)).toEqual([]);
    });

    it('appends batches with gap-free seqs, each event chained to the one before', async () => {
      const a = await sink.append([auditEvent(1), auditEvent(2)]);
      const b = await sink.append([auditEvent(3)]);
      expect(await sink.append([])).toEqual([]);
      const events = [...a, ...b];
      expect(events.map((e) => e.seq)).toEqual([1, 2, 3]);
      expect(events[0]!.prevHash).toBe(GENESIS_HASH);
      expect(events[1]!.prevHash).toBe(events[0]!.hash);
      expect(events[2]!.prevHash).toBe(events[1]!.hash);
      expect(events[0]).toMatchObject({
        actor: { userId: 'u_1', role: 'therapist' },
        action: 'conversation.join',
        resource: { type: 'conversation', id: 'cv_1' },
        outcome: 'granted',
        reason: 'participant',
        time: 1_700_000_000_001,
        ip: '203.0.113.7',
      });
      expect(await sink.read(1, 10)).toEqual(events);
      expect(await sink.read(2, 1)).toEqual([events[1]]);
      expect(await sink.head()).toEqual({ seq: 3, hash: events[2]!.hash });
      expect(await sink.verify()).toEqual({ ok: true, count: 3, headSeq: 3, headHash: events[2]!.hash });
    });

    it('finds the events about given resources, oldest first, a page at a time', async () => {
      const on = (i: number, type: 'case' | 'conversation' | 'note' | 'grant', id: string) =>
        auditEvent(i, { resource: { type, id } });
      await sink.append([
        on(1, 'case', 'C-AAAA-1111'),
        on(2, 'conversation', 'cv_mine'),
        on(3, 'case', 'C-BBBB-2222'),
        on(4, 'conversation', 'cv_theirs'),
        auditEvent(5, { resource: null, actor: 'system', action: 'keys.rotate' }),
        on(6, 'note', 'nt_mine'),
        // The same id under another type is another resource.
        on(7, 'note', 'cv_mine'),
        on(8, 'grant', 'bg_mine'),
        on(9, 'conversation', 'cv_mine'),
      ]);
      const mine = [
        { type: 'case', id: 'C-AAAA-1111' },
        { type: 'conversation', id: 'cv_mine' },
        { type: 'note', id: 'nt_mine' },
        { type: 'grant', id: 'bg_mine' },
        { type: 'conversation', id: 'cv_mine' },
      ] as const;
      const seqs = async (from: number, limit: number) =>
        (await sink.readByResources(mine, from, limit)).map((e) => e.seq);
      expect(await seqs(1, 100)).toEqual([1, 2, 6, 8, 9]);
      expect(await seqs(1, 2)).toEqual([1, 2]);
      expect(await seqs(3, 2)).toEqual([6, 8]);
      expect(await seqs(10, 2)).toEqual([]);
      expect(await sink.readByResources([], 1, 100)).toEqual([]);
      const [first] = await sink.readByResources([{ type: 'grant', id: 'bg_mine' }], 1, 10);
      expect(first).toEqual((await sink.read(8, 1))[0]);
    });

    it('stores every kind of actor and optional field exactly as hashed', async () => {
      const stored = await sink.append([
        auditEvent(1, {
          actor: 'system',
          resource: null,
          reason: null,
          ip: null,
          device: null,
          action: 'admin.change',
        }),
        auditEvent(2, { actor: 'anonymous', action: 'auth.refused', outcome: 'refused', reason: 'token-expired' }),
        auditEvent(3, {
          device: 'Ünïcødé 🧠 agent\u0000with\ncontrols',
          reason: 'suicide.intent@phrase-list@2025-01-15',
        }),
        auditEvent(4, {
          device: 'x'.repeat(1000),
          action: 'break-glass',
          resource: { type: 'case', id: 'C-7K3M-92QD' },
        }),
      ]);
      expect(stored[0]).toMatchObject({ actor: 'system', resource: null, reason: null, ip: null, device: null });
      expect(stored[1]!.actor).toBe('anonymous');
      expect(stored[2]!.device).toBe('Ünïcødé 🧠 agent\uFFFDwith\uFFFDcontrols');
      expect(stored[3]!.device).toHaveLength(256);
      expect(await sink.read(1, 10)).toEqual(stored);
      expect((await sink.verify()).ok).toBe(true);
    });

    it('refuses a malformed event, and writes nothing of its batch', async () => {
      const bad: Partial<AuditEventInput>[] = [
        { reason: 'the patient said something sensitive' },
        { reason: 'X'.repeat(10) },
        { ip: 'not-an-ip' },
        { action: 'message.read' as AuditEventInput['action'] },
        { actor: { userId: 'Jane Doe', role: 'patient' } },
        { actor: { userId: 'u_1', role: 'root' as 'admin' } },
        { resource: { type: 'message' as 'case', id: 'x' } },
        { resource: { type: 'case', id: 'has space' } },
        { time: 1.5 },
        { outcome: 'maybe' as 'granted' },
      ];
      for (const over of bad) {
        await expect(sink.append([auditEvent(1), auditEvent(2, over)])).rejects.toBeInstanceOf(AuditEventError);
      }
      expect(await sink.read(1, 10)).toEqual([]);
      expect(await sink.head()).toEqual({ seq: 0, hash: GENESIS_HASH });
    });

    it('keeps one linear, gap-free chain when two sinks append batches concurrently', async () => {
      const other = await fx.another();
      const batches: AuditEventInput[][] = [];
      for (let b = 0; b < 24; b++)
        batches.push(
          Array.from({ length: 1 + (b % 6) }, (_, k) =>
            auditEvent(b * 10 + k, { resource: { type: 'case', id: `b${b}-${k}` } }),
          ),
        );
      const results = await Promise.all(batches.map((batch, b) => (b % 2 ? other : sink).append(batch)));
      const total = batches.reduce((n, b) => n + b.length, 0);
      // Each batch is one run of consecutive seqs, in the order given.
      for (const [b, stored] of results.entries()) {
        expect(stored.map((e) => e.resource?.id)).toEqual(batches[b]!.map((e) => e.resource?.id));
        expect(stored.map((e) => e.seq - stored[0]!.seq)).toEqual(stored.map((_, k) => k));
      }
      const all = await sink.read(1, 1000);
      expect(all.map((e) => e.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      expect(new Set(all.map((e) => e.resource?.id)).size).toBe(total);
      const verdict = await other.verify();
      expect(verdict).toMatchObject({ ok: true, count: total, headSeq: total });
      expect(await sink.head()).toEqual({ seq: total, hash: all.at(-1)!.hash });
    });

    it('takes fire-and-forget events from two buffering writers on two sinks', async () => {
      const other = await fx.another();
      const writers = [new AuditWriter({ sink, maxBatch: 50 }), new AuditWriter({ sink: other, maxBatch: 50 })];
      for (let i = 0; i < 300; i++) expect(writers[i % 2]!.record(auditEvent(i))).toBe(true);
      await Promise.all(writers.map((w) => w.close()));
      expect(await sink.verify()).toMatchObject({ ok: true, count: 300 });
      // Each writer's events keep the order they were recorded in.
      const events = await sink.read(1, 1000);
      for (const parity of [0, 1]) {
        const mine = events.filter((e) => Number(e.resource?.id.slice(3)) % 2 === parity);
        expect(mine.map((e) => e.time)).toEqual([...mine.map((e) => e.time)].sort((x, y) => x - y));
      }
    });

    describe('tampering in the database is found, at the first tampered event', () => {
      it('an edited field', async () => {
        await logOf(10);
        await fx.tamper.update(4, { outcome: 'granted', reason: 'participant', actorId: 'u_0' });
        expect(await sink.verify()).toMatchObject({ ok: false, firstBadSeq: 4, problem: 'edited' });
      });

      it('an edited field whose hash was recomputed', async () => {
        const rows = await logOf(10);
        const r4 = { ...row(rows, 4), outcome: 'refused' };
        await fx.tamper.update(4, { outcome: 'refused', hash: hashAuditRecord(4, r4.prevHash, r4) });
        expect(await sink.verify()).toMatchObject({ ok: false, firstBadSeq: 4, problem: 'edited' });
      });

      it('a deleted event', async () => {
        await logOf(10);
        await fx.tamper.delete(6);
        expect(await sink.verify()).toMatchObject({ ok: false, firstBadSeq: 6, problem: 'deleted' });
      });

      it('a deleted event, with the later ones renumbered to close the gap', async () => {
        await logOf(10);
        await fx.tamper.delete(6);
        for (let s = 7; s <= 10; s++) await fx.tamper.update(s, { seq: s - 1 });
        const verdict = await sink.verify();
        expect(verdict).toMatchObject({ ok: false, firstBadSeq: 6, problem: 'deleted' });
      });

      it('two events swapped', async () => {
        const rows = await logOf(10);
        await fx.tamper.update(3, chainFields(row(rows, 7)));
        await fx.tamper.update(7, chainFields(row(rows, 3)));
        expect(await sink.verify()).toMatchObject({ ok: false, firstBadSeq: 3, problem: 'reordered' });
      });

      it('two neighbours swapped', async () => {
        const rows = await logOf(10);
        await fx.tamper.update(5, chainFields(row(rows, 6)));
        await fx.tamper.update(6, chainFields(row(rows, 5)));
        expect(await sink.verify()).toMatchObject({ ok: false, firstBadSeq: 5, problem: 'reordered' });
      });

      it('a truncated tail: by the log’s own head record, and by a head recorded outside', async () => {
        const rows = await logOf(10);
        for (const s of [10, 9, 8]) await fx.tamper.delete(s);
        expect(await sink.verify()).toMatchObject({ ok: false, firstBadSeq: 8, problem: 'truncated' });
        // A careful attacker moves the head record back too: only the externally recorded head shows the cut.
        await fx.tamper.setHead({ seq: 7, hash: row(rows, 7).hash });
        expect(await sink.verify()).toMatchObject({ ok: true, count: 7 });
        const expectHead = { seq: 10, hash: row(rows, 10).hash };
        expect(await sink.verify({ expectHead })).toMatchObject({ ok: false, firstBadSeq: 8, problem: 'truncated' });
        expect(await sink.verify({ expectHead: { seq: 5, hash: row(rows, 5).hash } })).toMatchObject({ ok: true });
      });

      it('a tail rewritten with fresh hashes, against a head recorded outside', async () => {
        const rows = await logOf(10);
        const content = { ...toAuditContent(auditEvent(9)), outcome: 'refused' };
        const [r9, r10] = chainAuditContents({ seq: 8, hash: row(rows, 8).hash }, [content, row(rows, 10)]);
        await fx.tamper.update(9, r9!);
        await fx.tamper.update(10, r10!);
        await fx.tamper.setHead({ seq: 10, hash: r10!.hash });
        expect(await sink.verify()).toMatchObject({ ok: true, count: 10 });
        const expectHead = { seq: 10, hash: row(rows, 10).hash };
        expect(await sink.verify({ expectHead })).toMatchObject({ ok: false, firstBadSeq: 10, problem: 'rewritten' });
      });

      it('a forged event inserted in the middle, correctly chained, the later ones renumbered', async () => {
        const rows = await logOf(10);
        for (let s = 10; s >= 4; s--) await fx.tamper.update(s, { seq: s + 1 });
        const [forged] = chainAuditContents({ seq: 3, hash: row(rows, 3).hash }, [
          toAuditContent(auditEvent(99, { action: 'break-glass', outcome: 'granted' })),
        ]);
        await fx.tamper.insert(forged!);
        await fx.tamper.setHead({ seq: 11, hash: row(rows, 10).hash });
        expect(await sink.verify()).toMatchObject({ ok: false, firstBadSeq: 4, problem: 'inserted' });
      });

      it('a forged event appended past the head, correctly chained', async () => {
        const rows = await logOf(10);
        const [forged] = chainAuditContents({ seq: 10, hash: row(rows, 10).hash }, [toAuditContent(auditEvent(11))]);
        await fx.tamper.insert(forged!);
        expect(await sink.verify()).toMatchObject({ ok: false, firstBadSeq: 11, problem: 'inserted' });
      });

      it('a value no sink writes, even with its hash recomputed', async () => {
        const rows = await logOf(10);
        const r10 = { ...row(rows, 10), actorRole: 'superuser' };
        const hash = hashAuditRecord(10, r10.prevHash, r10);
        await fx.tamper.update(10, { actorRole: 'superuser', hash });
        await fx.tamper.setHead({ seq: 10, hash });
        expect(await sink.verify()).toMatchObject({ ok: false, firstBadSeq: 10, problem: 'malformed' });
      });

      it('verification reads, and never repairs: an intact log stays intact and appends continue the chain', async () => {
        const rows = await logOf(4);
        expect(await sink.verify()).toMatchObject({ ok: true, count: 4 });
        expect(await fx.tamper.rows()).toEqual(rows);
        const [fifth] = await sink.append([auditEvent(5)]);
        expect(fifth).toMatchObject({ seq: 5, prevHash: row(rows, 4).hash });
      });
    });

    it('the storage itself refuses updates and deletes of events, where it can', async () => {
      await logOf(2);
      if (!fx.tamper.tryOrdinaryWrites) return;
      const errors = await fx.tamper.tryOrdinaryWrites();
      expect(String(errors.update)).toMatch(/append-only/);
      expect(String(errors.delete)).toMatch(/append-only/);
      expect((await sink.verify()).ok).toBe(true);
    });
  });
}
