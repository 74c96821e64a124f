/**
 * KEK rotation without downtime (DESIGN §4): a new key-encryption key becomes current, every wrapped data key
 * (`data_keys`, the cases' keys; `user_keys`, the identity keys) is unwrapped and wrapped again under it in bounded
 * batches, and each KEK that no row uses any more is retired.
 *
 * Live traffic is never stopped: the provider unwraps with every KEK it holds, so a node that loads a case's key while
 * its row is being re-wrapped reads either version and can open both. Only the wrapping changes; the data keys, and
 * so every ciphertext, stay the same. Each row is updated with a conditional UPDATE on the KEK it was read with, so a
 * row shredded or re-wrapped meanwhile (another rotation) is left alone. A KEK is retired only after a pass finds no
 * row using it.
 */
import type { Kysely } from 'kysely';
import type { AuditEventInput } from '../audit/audit-sink.js';
import type { Database } from '../store/schema.js';
import type { RotatableKeyProvider } from './key-provider.js';

/** The tables that hold keys wrapped by a KEK. */
export const WRAPPED_KEY_TABLES = ['data_keys', 'user_keys'] as const;
type WrappedKeyTable = (typeof WRAPPED_KEY_TABLES)[number];

export interface KekRotationDeps {
  readonly db: Kysely<Database>;
  readonly provider: RotatableKeyProvider;
  /** Where `keys.rotate` is recorded: an `AuditWriter`. */
  readonly audit: { recordAndWait(event: AuditEventInput): Promise<void> };
  readonly now: () => number;
}

export interface KekRotationOptions {
  /** Rows re-wrapped per transaction. Default 200. */
  readonly batchSize?: number;
  /**
   * How long to wait after the new KEK becomes current before re-wrapping, so that a key another process wrapped with
   * the old KEK just before it noticed the new one is in the database before the last pass looks. Default 1,000 ms.
   */
  readonly settleMs?: number;
  /** Called after each batch, for progress output. */
  readonly onProgress?: (progress: { readonly table: WrappedKeyTable; readonly rewrapped: number }) => void;
}

export interface KekRotationReport {
  readonly newKekId: string;
  readonly previousKekIds: readonly string[];
  /** Rows re-wrapped, per table. */
  readonly rewrapped: Readonly<Record<WrappedKeyTable, number>>;
  /** Rows that could not be unwrapped (a KEK not held, or a damaged row): their KEK is kept. */
  readonly failed: number;
  readonly retired: readonly string[];
  /** Old KEKs still held because some row still uses them. Empty when the rotation is complete. */
  readonly kept: readonly string[];
}

const MAX_PASSES = 3;

/** Rotates the KEK: see the file comment. Resolves once the old KEKs are retired (or reports those it kept). */
export async function rotateKek(deps: KekRotationDeps, options: KekRotationOptions = {}): Promise<KekRotationReport> {
  const batchSize = Math.max(1, options.batchSize ?? 200);
  const { db, provider } = deps;
  const previousKekIds = await provider.kekIds();
  const newKekId = await provider.addKek();
  const settleMs = options.settleMs ?? 1000;
  if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));

  const rewrapped: Record<WrappedKeyTable, number> = { data_keys: 0, user_keys: 0 };
  let failed = 0;
  let kept: string[] = [];
  const retired: string[] = [];
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    failed = 0;
    for (const table of WRAPPED_KEY_TABLES) {
      const r = await rewrapTable(db, provider, table, newKekId, batchSize, options.onProgress);
      rewrapped[table] += r.rewrapped;
      failed += r.failed;
    }
    kept = [];
    for (const kekId of await provider.kekIds()) {
      if (kekId === provider.currentKekId) continue;
      if (await inUse(db, kekId)) kept.push(kekId);
      else {
        await provider.retireKek(kekId);
        retired.push(kekId);
      }
    }
    // Rows still under an old KEK after a clean pass were wrapped by a process that had not yet seen the new KEK.
    if (kept.length === 0 || failed > 0) break;
  }
  const complete = kept.length === 0;
  await deps.audit.recordAndWait({
    actor: 'system',
    action: 'keys.rotate',
    outcome: complete ? 'granted' : 'error',
    reason: complete ? 'kek-rotated' : 'kek-rotation-incomplete',
    time: deps.now(),
  });
  return { newKekId, previousKekIds, rewrapped, failed, retired, kept };
}

async function inUse(db: Kysely<Database>, kekId: string): Promise<boolean> {
  for (const table of WRAPPED_KEY_TABLES) {
    const row = await db.selectFrom(table).select('id').where('kek_id', '=', kekId).limit(1).executeTakeFirst();
    if (row) return true;
  }
  return false;
}

async function rewrapTable(
  db: Kysely<Database>,
  provider: RotatableKeyProvider,
  table: WrappedKeyTable,
  newKekId: string,
  batchSize: number,
  onProgress: KekRotationOptions['onProgress'],
): Promise<{ rewrapped: number; failed: number }> {
  let rewrapped = 0;
  let failed = 0;
  // Keyset pagination by id: a row that cannot be unwrapped is skipped, not read again forever.
  let after = '';
  for (;;) {
    const rows = await db
      .selectFrom(table)
      .select(['id', 'kek_id', 'wrapped'])
      .where('kek_id', '<>', newKekId)
      .where('id', '>', after)
      .orderBy('id')
      .limit(batchSize)
      .execute();
    if (rows.length === 0) break;
    after = rows[rows.length - 1]!.id;
    const updates: { id: string; oldKekId: string; kekId: string; wrapped: Buffer }[] = [];
    for (const row of rows) {
      let dek: Buffer;
      try {
        dek = await provider.unwrap(row.id, { kekId: row.kek_id, wrapped: Buffer.from(row.wrapped) });
      } catch {
        failed++;
        continue;
      }
      const w = await provider.wrap(row.id, dek);
      dek.fill(0);
      updates.push({ id: row.id, oldKekId: row.kek_id, kekId: w.kekId, wrapped: w.wrapped });
    }
    if (updates.length > 0) {
      const done = await db.transaction().execute(async (trx) => {
        let n = 0;
        for (const u of updates) {
          const res = await trx
            .updateTable(table)
            .set({ kek_id: u.kekId, wrapped: u.wrapped })
            .where('id', '=', u.id)
            .where('kek_id', '=', u.oldKekId)
            .executeTakeFirst();
          n += Number(res.numUpdatedRows);
        }
        return n;
      });
      rewrapped += done;
      onProgress?.({ table, rewrapped });
    }
  }
  return { rewrapped, failed };
}
