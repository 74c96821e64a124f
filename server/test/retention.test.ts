/**
 * Retention on a fake clock, against real stores (SQLite always; PostgreSQL when reachable): cases 20 years after
 * discharge are crypto-shredded and become unreadable, accounts that never became a case are removed after 6 years,
 * and everything one second younger, or of a neighbouring case, is untouched.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Role } from '@therapy-chat/protocol';
import { writeIdentity, readIdentity } from '../src/accounts/identity.js';
import { AuditWriter } from '../src/audit/audit-writer.js';
import { MemoryAuditSink } from '../src/audit/memory-audit-sink.js';
import { aad, open, seal } from '../src/crypto/aead.js';
import { DataKeyRing, KeyNotLoadedError } from '../src/crypto/data-keys.js';
import { FileKeyProvider } from '../src/crypto/file-key-provider.js';
import type { KeyProvider } from '../src/crypto/key-provider.js';
import { createUser, openCase, scheduleAppointment } from '../src/domain/care-setup.js';
import { newId } from '../src/ids.js';
import { decide } from '../src/policy/access-policy.js';
import { loadCaseAccess } from '../src/policy/case-access.js';
import { runRetention, yearsBefore, type RetentionDeps } from '../src/retention/retention.js';
import type { Store, StoredMessage } from '../src/store/store.js';
import { tempDataDir } from './helpers/harness.js';
import { postgres } from './helpers/services.js';
import { storeFactories, type StoreFactory } from './helpers/stores.js';

const pg = await postgres();
const drops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const drop of drops) await drop();
});

const NOW = Date.UTC(2046, 5, 15, 12, 0, 0);
const SECOND = 1000;

interface World {
  readonly store: Store;
  readonly provider: KeyProvider;
  readonly ring: DataKeyRing;
  readonly sink: MemoryAuditSink;
  readonly audit: AuditWriter;
  readonly deps: RetentionDeps;
  readonly forgotten: string[];
  readonly accessChanged: string[];
  close(): Promise<void>;
}

const STORES = storeFactories(pg, drops);

async function world(factory: StoreFactory): Promise<World> {
  const store = await factory();
  await store.migrate();
  const provider = FileKeyProvider.openOrCreate(tempDataDir());
  const ring = new DataKeyRing(store, provider);
  const sink = new MemoryAuditSink();
  const audit = new AuditWriter({ sink });
  const forgotten: string[] = [];
  const accessChanged: string[] = [];
  return {
    store,
    provider,
    ring,
    sink,
    audit,
    forgotten,
    accessChanged,
    deps: {
      db: store.kysely,
      audit,
      now: () => NOW,
      keyRing: { forget: (id) => (forgotten.push(id), ring.forget(id)) },
      chat: { accessChanged: (id) => accessChanged.push(id), userRevoked: () => {} },
    },
    close: async () => {
      await audit.close();
      await store.close();
    },
  };
}

/** A case with a thread message, an appointment transcript and a therapist note, discharged at `dischargedAt`. */
async function dischargedCase(w: World, dischargedAt: number, label: string) {
  const therapistId = await createUser(w.store, 'therapist');
  const patientId = await createUser(w.store, 'patient');
  const { caseId, threadId } = await openCase(w.store, w.ring, { patientId, therapistId });
  const { conversationId } = await scheduleAppointment(w.store, caseId, { status: 'live' });
  const outcomes = await w.store.append(
    [
      {
        conv: conversationId,
        senderId: patientId,
        senderRole: 'patient',
        clientMsgId: 'a1',
        text: `${label} session`,
        ts: 1,
      },
      { conv: threadId, senderId: patientId, senderRole: 'patient', clientMsgId: 't1', text: `${label} thread`, ts: 2 },
    ],
    w.ring,
  );
  expect(outcomes.map((o) => o.kind)).toEqual(['stored', 'stored']);
  const noteId = await writeNote(w, caseId, therapistId, `${label} note`);
  await w.store.kysely
    .updateTable('cases')
    .set({ status: 'discharged', discharged_at: dischargedAt })
    .where('id', '=', caseId)
    .execute();
  return { caseId, patientId, therapistId, threadId, conv: conversationId, noteId };
}

/** A therapist note, sealed under the case's data key as every clinical text is. */
async function writeNote(w: World, caseId: string, authorId: string, text: string): Promise<string> {
  const [key] = await w.store.dataKeysForCase(caseId);
  const dek = await w.provider.unwrap(key!.id, { kekId: key!.kekId, wrapped: key!.wrapped });
  const id = newId('nt');
  await w.store.kysely
    .insertInto('notes')
    .values({
      id,
      case_id: caseId,
      kind: 'therapist',
      appointment_id: null,
      conversation_id: null,
      seq: null,
      target_note_id: null,
      author_id: authorId,
      author_role: 'therapist',
      key_id: key!.id,
      text_ct: seal(dek, Buffer.from(text, 'utf8'), aad('note.text', id)),
      created_at: NOW,
    })
    .execute();
  return id;
}

/** Opens a note the way any reader must: unwrap its data key from the store, then decrypt. */
async function readNote(w: World, noteId: string): Promise<string> {
  const note = await w.store.kysely.selectFrom('notes').selectAll().where('id', '=', noteId).executeTakeFirstOrThrow();
  const key = (await w.store.dataKeysForCase(note.case_id)).find((k) => k.id === note.key_id);
  if (!key) throw new KeyNotLoadedError(`data key ${note.key_id} does not exist`);
  const dek = await w.provider.unwrap(key.id, { kekId: key.kekId, wrapped: key.wrapped });
  return open(dek, note.text_ct, aad('note.text', noteId)).toString('utf8');
}

/** Reads every message of a conversation with a key ring fresh from the store, as a restarted node would. */
async function readAll(w: World, conv: string, caseId: string): Promise<string[]> {
  const ring = new DataKeyRing(w.store, w.provider);
  await ring.ensure(caseId);
  return (await w.store.messagesAfter(conv, 0, 100)).map((m) => ring.open(m));
}

async function account(w: World, role: Role, createdAt: number, login: string) {
  const id = await createUser(w.store, role);
  await w.store.kysely
    .updateTable('users')
    .set({ created_at: createdAt, login, password_hash: '$argon2id$v=19$m=65536,t=2,p=1$fictional$fictional' })
    .where('id', '=', id)
    .execute();
  await writeIdentity({ db: w.store.kysely, provider: w.provider }, id, {
    name: `Test Person ${login}`,
    email: `${login}@example.invalid`,
  });
  await w.store.kysely
    .insertInto('auth_sessions')
    .values({
      id: newId('as'),
      user_id: id,
      refresh_hash: newId('rh'),
      previous_refresh_hash: null,
      created_at: createdAt,
      refreshed_at: createdAt,
      expires_at: NOW + 86_400_000,
      revoked_at: null,
      ip: null,
      device: null,
    })
    .execute();
  return id;
}

async function userRow(w: World, id: string) {
  return w.store.kysely.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

async function retentionEvents(w: World) {
  await w.audit.flush();
  return (await w.sink.read(1, 1000)).filter((e) => e.action === 'retention.shred');
}

describe('yearsBefore', () => {
  it('is the same UTC date and time, calendar years earlier', () => {
    expect(new Date(yearsBefore(NOW, 20)).toISOString()).toBe('2026-06-15T12:00:00.000Z');
  });
});

for (const [name, factory, available] of STORES) {
  describe.skipIf(!available)(`retention on ${name}`, () => {
    it('shreds a case discharged 20 years + 1 s ago and leaves one at 20 years − 1 s, and a neighbour, readable', async () => {
      const w = await world(factory);
      try {
        const cutoff = yearsBefore(NOW, 20);
        const due = await dischargedCase(w, cutoff - SECOND, 'old');
        const young = await dischargedCase(w, cutoff + SECOND, 'young');
        const before = await readAll(w, due.conv, due.caseId);
        expect(before).toEqual(['old session']);
        // Each patient asked for erasure of the clinical record: restricted until retention ends (DESIGN §2).
        for (const c of [due, young]) {
          await w.store.kysely
            .insertInto('data_requests')
            .values({
              id: `dr-${c.caseId}`,
              user_id: c.patientId,
              case_id: c.caseId,
              kind: 'erasure',
              scope: 'clinical',
              status: 'restricted',
              outcome: null,
              created_at: NOW - 86_400_000,
              resolved_at: null,
            })
            .execute();
        }

        const report = await runRetention(w.deps);
        expect(report).toEqual({ dryRun: false, cases: 1, accounts: 0, more: false });

        // The shredded case: no keys, marked, and nothing of it can be opened any more.
        const shredded = await w.store.kysely
          .selectFrom('cases')
          .selectAll()
          .where('id', '=', due.caseId)
          .executeTakeFirstOrThrow();
        expect(shredded.shredded_at).toBe(NOW);
        expect(await w.store.dataKeysForCase(due.caseId)).toEqual([]);
        const ciphertexts: StoredMessage[] = [
          ...(await w.store.messagesAfter(due.conv, 0, 10)),
          ...(await w.store.messagesAfter(due.threadId, 0, 10)),
        ];
        expect(ciphertexts).toHaveLength(2); // the ciphertext is still there…
        for (const m of ciphertexts) {
          expect(Buffer.from(m.ciphertext).includes(Buffer.from('old'))).toBe(false);
          expect(() => w.ring.open(m)).toThrow(KeyNotLoadedError); // …this node forgot the key…
        }
        await expect(readAll(w, due.conv, due.caseId)).rejects.toThrow(KeyNotLoadedError); // …and no node can load it
        await expect(readNote(w, due.noteId)).rejects.toThrow(KeyNotLoadedError);
        expect(w.forgotten).toEqual([due.caseId]);
        expect(w.accessChanged).toEqual([due.caseId]);
        // The export, a read, a note read: the access policy refuses them all, for the patient too.
        const access = (await loadCaseAccess(w.store.kysely, due.caseId))!;
        for (const action of ['record.export', 'conversation.read', 'note.read'] as const) {
          expect(decide({ userId: due.patientId, role: 'patient' }, action, { case: access }, NOW)).toMatchObject({
            allow: false,
            rule: 'retention-ended',
          });
        }

        // The case one second younger is whole.
        expect(
          (
            await w.store.kysely
              .selectFrom('cases')
              .select('shredded_at')
              .where('id', '=', young.caseId)
              .executeTakeFirstOrThrow()
          ).shredded_at,
        ).toBeNull();
        expect(await readAll(w, young.conv, young.caseId)).toEqual(['young session']);
        expect(await readAll(w, young.threadId, young.caseId)).toEqual(['young thread']);
        expect(await readNote(w, young.noteId)).toBe('young note');
        const youngAccess = (await loadCaseAccess(w.store.kysely, young.caseId))!;
        expect(
          decide({ userId: young.patientId, role: 'patient' }, 'record.export', { case: youngAccess }, NOW).allow,
        ).toBe(true);

        const request = async (caseId: string) =>
          w.store.kysely
            .selectFrom('data_requests')
            .select(['status', 'resolved_at'])
            .where('case_id', '=', caseId)
            .executeTakeFirst();
        expect(await request(due.caseId)).toEqual({ status: 'honoured', resolved_at: NOW });
        expect(await request(young.caseId)).toEqual({ status: 'restricted', resolved_at: null });

        const events = await retentionEvents(w);
        expect(events).toHaveLength(1);
        expect(events[0]).toMatchObject({
          actor: 'system',
          resource: { type: 'case', id: due.caseId },
          outcome: 'granted',
          reason: 'retention-20y-after-discharge',
          time: NOW,
        });

        // Idempotent: nothing more to do, nothing more audited.
        expect(await runRetention(w.deps)).toEqual({ dryRun: false, cases: 0, accounts: 0, more: false });
        expect(await retentionEvents(w)).toHaveLength(1);
      } finally {
        await w.close();
      }
    });

    it('removes an account with no case created 6 years + 1 s ago; one at 6 years − 1 s, staff and patients with a case stay', async () => {
      const w = await world(factory);
      try {
        const cutoff = yearsBefore(NOW, 6);
        const old = await account(w, 'patient', cutoff - SECOND, 'old-applicant');
        const young = await account(w, 'patient', cutoff + SECOND, 'young-applicant');
        const staff = await account(w, 'therapist', cutoff - 10 * 365 * 86_400_000, 'old-therapist');
        const withCase = await account(w, 'patient', cutoff - SECOND, 'old-patient');
        await openCase(w.store, w.ring, { patientId: withCase, therapistId: staff });
        const idDeps = { db: w.store.kysely, provider: w.provider };

        expect(await runRetention(w.deps)).toEqual({ dryRun: false, cases: 0, accounts: 1, more: false });

        const removed = await userRow(w, old);
        expect(removed).toMatchObject({ status: 'removed', login: null, password_hash: null, disabled_at: NOW });
        expect(await readIdentity(idDeps, old)).toBe('erased');
        expect(await w.store.kysely.selectFrom('user_keys').select('id').where('user_id', '=', old).execute()).toEqual(
          [],
        );
        const sessions = await w.store.kysely
          .selectFrom('auth_sessions')
          .selectAll()
          .where('user_id', '=', old)
          .execute();
        expect(sessions.every((s) => s.revoked_at === NOW)).toBe(true);
        // Its login name no longer names anyone: nobody can log in as it.
        expect(
          await w.store.kysely.selectFrom('users').select('id').where('login', '=', 'old-applicant').execute(),
        ).toEqual([]);

        for (const [id, login] of [
          [young, 'young-applicant'],
          [staff, 'old-therapist'],
          [withCase, 'old-patient'],
        ] as const) {
          expect(await userRow(w, id)).toMatchObject({ status: 'active', login, disabled_at: null });
          expect(await readIdentity(idDeps, id)).toMatchObject({ name: `Test Person ${login}` });
        }
        const events = await retentionEvents(w);
        expect(events.map((e) => [e.resource, e.reason, e.actor])).toEqual([
          [{ type: 'user', id: old }, 'retention-6y-no-case', 'system'],
        ]);
        expect(await runRetention(w.deps)).toEqual({ dryRun: false, cases: 0, accounts: 0, more: false });
        expect(await retentionEvents(w)).toHaveLength(1);
      } finally {
        await w.close();
      }
    });

    it('a dry run counts what is due and changes nothing', async () => {
      const w = await world(factory);
      try {
        const due = await dischargedCase(w, yearsBefore(NOW, 20) - SECOND, 'old');
        const applicant = await account(w, 'patient', yearsBefore(NOW, 6) - SECOND, 'applicant');
        expect(await runRetention(w.deps, { dryRun: true })).toEqual({
          dryRun: true,
          cases: 1,
          accounts: 1,
          more: false,
        });
        expect(await w.store.dataKeysForCase(due.caseId)).toHaveLength(1);
        expect(await readAll(w, due.conv, due.caseId)).toEqual(['old session']);
        expect(await readNote(w, due.noteId)).toBe('old note');
        expect(await userRow(w, applicant)).toMatchObject({ status: 'active', login: 'applicant' });
        expect(await readIdentity({ db: w.store.kysely, provider: w.provider }, applicant)).toMatchObject({
          name: 'Test Person applicant',
        });
        expect(await retentionEvents(w)).toEqual([]);
      } finally {
        await w.close();
      }
    });

    it('works in bounded batches, and concurrent runs act on each record once', async () => {
      const w = await world(factory);
      try {
        const cutoff = yearsBefore(NOW, 20);
        const cases = [];
        for (let i = 0; i < 5; i++) cases.push(await dischargedCase(w, cutoff - (i + 1) * SECOND, `c${i}`));
        const accounts: string[] = [];
        for (let i = 0; i < 3; i++)
          accounts.push(await account(w, 'patient', yearsBefore(NOW, 6) - (i + 1) * SECOND, `a${i}`));
        const first = await runRetention(w.deps, { batchSize: 2 });
        expect(first).toEqual({ dryRun: false, cases: 2, accounts: 2, more: true });
        // Two nodes at once, on what is left: each case is shredded and audited exactly once.
        const both = await Promise.all([
          runRetention(w.deps, { batchSize: 10 }),
          runRetention(w.deps, { batchSize: 10 }),
        ]);
        expect(both[0].cases + both[1].cases).toBe(3);
        expect(both[0].accounts + both[1].accounts).toBe(1);
        const events = await retentionEvents(w);
        expect(events.map((e) => e.resource?.id).sort()).toEqual([...cases.map((c) => c.caseId), ...accounts].sort());
        for (const a of accounts) expect(await userRow(w, a)).toMatchObject({ status: 'removed', identity_ct: null });
        for (const c of cases) expect(await w.store.dataKeysForCase(c.caseId)).toEqual([]);
      } finally {
        await w.close();
      }
    });
  });
}
