/**
 * The patient's data rights and the supervisor's pseudonymised view, end to end: a real server, real WebSocket
 * sessions writing the record, the HTTP API reading it — on SQLite always, and on PostgreSQL where it runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AckFrame, JoinedFrame } from '@therapy-chat/protocol';
import { readIdentity, writeIdentity } from '../src/accounts/identity.js';
import type { AuditEvent, AuditEventInput } from '../src/audit/audit-sink.js';
import { MemoryAuditSink } from '../src/audit/memory-audit-sink.js';
import { FileKeyProvider } from '../src/crypto/file-key-provider.js';
import { newId } from '../src/ids.js';
import { sealNote } from '../src/notes/note-crypto.js';
import { createUser, openCase, scheduleAppointment } from '../src/domain/care-setup.js';
import { mintToken, startServer, type TestServer } from './helpers/harness.js';
import { freshPostgresDatabase, postgres } from './helpers/services.js';
import { TestClient } from './helpers/test-client.js';
import { StoreUnavailableError } from '../src/store/store.js';

interface Party {
  readonly id: string;
  readonly token: string;
}

interface PatientWorld {
  readonly patient: Party;
  readonly caseId: string;
  readonly threadId: string;
  readonly appointmentId: string;
  readonly conv: string;
  /** Strings that belong to this patient's record alone. */
  readonly markers: readonly string[];
  readonly identityName: string;
}

interface World {
  readonly therapist: Party;
  readonly otherTherapist: Party;
  readonly supervisor: Party;
  readonly otherSupervisor: Party;
  readonly admin: Party;
  readonly a: PatientWorld;
  readonly b: PatientWorld;
}

interface ReportEvent {
  readonly seq: number;
  readonly time: string;
  readonly actor: { readonly role: string; readonly label: string | null; readonly relation: string };
  readonly action: string;
  readonly outcome: string;
  readonly record: { readonly type: string; readonly id: string; readonly caseRef: string | null } | null;
  readonly breakGlass?: { readonly reason: string; readonly expiresAt: string };
}

interface AccessReport {
  readonly events: ReportEvent[];
  readonly next: number | null;
  readonly breakGlassGrants: unknown[];
}

const pg = await postgres();
const backends = [
  { name: 'SQLite', available: true },
  { name: 'PostgreSQL', available: pg.available },
];

describe.each(backends)('patient data rights and supervision on $name', ({ name, available }) => {
  let ts: TestServer;
  let dropDb: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    if (!available) return;
    const env: Record<string, string> = {};
    if (name === 'PostgreSQL') {
      const db = await freshPostgresDatabase();
      dropDb = db.drop;
      env.DATABASE_URL = db.url;
    }
    ts = await startServer(env);
  });

  afterAll(async () => {
    await ts?.stop();
    await dropDb?.();
  });

  const party = async (role: 'patient' | 'therapist' | 'supervisor' | 'admin'): Promise<Party> => {
    const id = await createUser(ts.server.store, role);
    return { id, token: await mintToken(ts.dataDir, id, role) };
  };

  /** Opens a WebSocket session, joins and says each text in turn; returns the acks. */
  async function say(who: Party, conv: string, texts: readonly string[]): Promise<AckFrame[]> {
    const c = await TestClient.connect(ts.url);
    try {
      expect((await c.auth(who.token)).type).toBe('welcome');
      expect(((await c.join(conv)) as JoinedFrame).type).toBe('joined');
      const acks: AckFrame[] = [];
      for (const t of texts) {
        const ack = await c.sendText(conv, t);
        expect(ack.type).toBe('ack');
        acks.push(ack as AckFrame);
      }
      return acks;
    } finally {
      await c.close();
    }
  }

  async function patientWorld(tag: string, therapist: Party, supervisor: Party): Promise<PatientWorld> {
    const patient = await party('patient');
    const { store, keys } = ts.server;
    const { caseId, threadId } = await openCase(store, keys, {
      patientId: patient.id,
      therapistId: therapist.id,
      supervisorId: supervisor.id,
    });
    const { appointmentId, conversationId } = await scheduleAppointment(store, caseId, { status: 'live' });
    const identityName = `Testperson ${tag} Fictional`;
    await writeIdentity({ db: store.kysely, provider: FileKeyProvider.openOrCreate(ts.dataDir) }, patient.id, {
      name: identityName,
      email: `${tag.toLowerCase()}@example.invalid`,
      nhsNumber: tag === 'A' ? '999 000 0001' : '999 000 0002',
    });
    const markers = [`zebra-${tag}-thread`, `zebra-${tag}-session`, `zebra-${tag}-reply`];
    await say(patient, threadId, [`${markers[0]} <script>alert("x")</script> & more`]);
    await say(patient, conversationId, [`${markers[1]}: I slept badly.`]);
    await say(therapist, conversationId, [`${markers[2]}: tell me about the nights.`]);
    return { patient, caseId, threadId, appointmentId, conv: conversationId, markers, identityName };
  }

  async function world(): Promise<World> {
    const therapist = await party('therapist');
    const otherTherapist = await party('therapist');
    const supervisor = await party('supervisor');
    const otherSupervisor = await party('supervisor');
    const admin = await party('admin');
    const a = await patientWorld('A', therapist, supervisor);
    const b = await patientWorld('B', otherTherapist, otherSupervisor);
    return { therapist, otherTherapist, supervisor, otherSupervisor, admin, a, b };
  }

  async function api(
    who: Party | null,
    method: string,
    path: string,
    body?: unknown,
    // A JSON answer is read loosely here: the assertions are what check its shape.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ): Promise<{ status: number; headers: Headers; text: string; json: () => any }> {
    const res = await fetch(`${ts.httpUrl}/v1${path}`, {
      method,
      headers: {
        ...(who && { authorization: `Bearer ${who.token}` }),
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
  }

  /** Every id and identity string of patient `p`'s side of the world. */
  const secretsOf = (p: PatientWorld) => [
    ...p.markers,
    p.patient.id,
    p.caseId,
    p.threadId,
    p.conv,
    p.appointmentId,
    p.identityName,
  ];

  it.skipIf(!available)('exports exactly the patient’s own record as portable JSON', async () => {
    const w = await world();
    const res = await api(w.a.patient, 'GET', '/me/export?format=json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('content-disposition')).toMatch(
      /^attachment; filename="therapy-record-\d{4}-\d\d-\d\d\.json"$/,
    );
    const doc = res.json();
    expect(doc).toMatchObject({
      format: 'therapy-chat-export/1',
      you: { userId: w.a.patient.id, identity: { name: w.a.identityName }, identityErasedAt: null },
    });
    expect(doc.cases).toHaveLength(1);
    const c = doc.cases[0];
    expect(c).toMatchObject({ ref: w.a.caseId, status: 'active', dischargedAt: null, restrictedAt: null });
    expect(c.thread.messages).toEqual([
      { seq: 1, sentAt: expect.any(String), from: 'you', text: `${w.a.markers[0]} <script>alert("x")</script> & more` },
    ]);
    expect(c.appointments).toHaveLength(1);
    expect(c.appointments[0].transcript.messages.map((m: { from: string }) => m.from)).toEqual(['you', 'therapist']);
    for (const m of w.a.markers) expect(res.text).toContain(m);
    // Nothing of the other patient, and nobody else by id.
    for (const s of secretsOf(w.b)) expect(res.text).not.toContain(s);
    expect(res.text).not.toContain(w.therapist.id);
    expect(res.text).not.toContain(w.supervisor.id);

    for (const bad of ['?format=pdf', '?format=json&extra=1']) {
      const refused = await api(w.a.patient, 'GET', `/me/export${bad}`);
      expect({ bad, status: refused.status, error: refused.json().error }).toEqual({
        bad,
        status: 400,
        error: 'VALIDATION_FAILED',
      });
    }
    expect((await api(w.therapist, 'GET', '/me/export')).json().error).toBe('FORBIDDEN');
    expect((await api(null, 'GET', '/me/export')).status).toBe(401);

    const other = await api(w.b.patient, 'GET', '/me/export');
    expect(other.json().format).toBe('therapy-chat-export/1');
    for (const s of secretsOf(w.a)) expect(other.text).not.toContain(s);
  });

  it.skipIf(!available)('exports every case of a re-referred patient; a shredded case by its dates only', async () => {
    const w = await world();
    const { store, keys } = ts.server;
    const db = store.kysely;
    const now = Date.now();
    // An earlier case of patient A, long discharged and shredded at the end of retention, and a re-referral from it.
    const old = await openCase(store, keys, { patientId: w.a.patient.id, therapistId: w.otherTherapist.id });
    await say(w.a.patient, old.threadId, ['zebra-A-old-case']);
    await db
      .updateTable('cases')
      .set({ opened_at: now - 2000, status: 'discharged', discharged_at: now - 1000 })
      .where('id', '=', old.caseId)
      .execute();
    await db.deleteFrom('data_keys').where('case_id', '=', old.caseId).execute();
    await db
      .updateTable('cases')
      .set({ shredded_at: now - 500 })
      .where('id', '=', old.caseId)
      .execute();
    await db.updateTable('cases').set({ previous_case_id: old.caseId }).where('id', '=', w.a.caseId).execute();
    // A long thread: more messages than one page.
    const texts = Array.from({ length: 1205 }, (_, i) => `long-thread message ${i + 1}`);
    await keys.ensure(w.a.caseId);
    for (let i = 0; i < texts.length; i += 400) {
      await store.append(
        texts.slice(i, i + 400).map((text, k) => ({
          conv: w.a.threadId,
          senderId: w.a.patient.id,
          senderRole: 'patient' as const,
          clientMsgId: `bulk-${i + k}`,
          text,
          ts: now + i + k,
        })),
        keys,
      );
    }

    const res = await api(w.a.patient, 'GET', '/me/export');
    expect(res.status).toBe(200);
    const doc = res.json();
    expect(doc.cases.map((c: { ref: string }) => c.ref)).toEqual([old.caseId, w.a.caseId]);
    expect(doc.cases[0]).toMatchObject({
      status: 'discharged',
      recordsDestroyedAt: expect.any(String),
      thread: null,
      notes: [],
    });
    expect(res.text).not.toContain('zebra-A-old-case');
    expect(doc.cases[1].previousCaseRef).toBe(old.caseId);
    const thread = doc.cases[1].thread.messages as { seq: number; text: string }[];
    expect(thread.map((m) => m.seq)).toEqual(Array.from({ length: 1206 }, (_, i) => i + 1));
    expect(thread.slice(1).map((m) => m.text)).toEqual(texts);

    const html = (await api(w.a.patient, 'GET', '/me/export?format=html')).text;
    expect(html).toContain('long-thread message 1205');
    expect(html).toContain('were destroyed at the end of the retention period');
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
  });

  it.skipIf(!available)('exports one readable, self-contained HTML document with every value escaped', async () => {
    const w = await world();
    const res = await api(w.a.patient, 'GET', '/me/export?format=html');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html; charset=utf-8/);
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename=".*\.html"$/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = res.text;
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more');
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/\s(src|href)=|@import|url\(/i);
    expect(html).toContain('Your therapist');
    expect(html).toContain(w.a.identityName);
    for (const m of w.a.markers) expect(html).toContain(m);
    for (const s of secretsOf(w.b)) expect(html).not.toContain(s);
    expect(html).not.toContain(w.therapist.id);
  });

  it.skipIf(!available)(
    'appends a correction without changing the original; therapist and supervisor see it',
    async () => {
      const w = await world();
      const text = 'I said I slept badly, not that I stopped sleeping <b>at all</b>.';
      const res = await api(w.a.patient, 'POST', '/me/corrections', {
        caseId: w.a.caseId,
        conversationId: w.a.conv,
        seq: 2,
        text,
      });
      expect(res.status).toBe(201);
      expect(res.json()).toMatchObject({
        caseRef: w.a.caseId,
        disputes: { conversationId: w.a.conv, seq: 2 },
        author: 'patient',
        text,
      });

      const exported = (await api(w.a.patient, 'GET', '/me/export')).json();
      const c = exported.cases[0];
      expect(c.appointments[0].transcript.messages[1].text).toBe(`${w.a.markers[2]}: tell me about the nights.`);
      expect(c.notes).toEqual([
        expect.objectContaining({
          kind: 'correction',
          author: 'you',
          disputes: { conversationId: w.a.conv, seq: 2 },
          text,
        }),
      ]);

      const byTherapist = await api(w.therapist, 'GET', `/cases/${w.a.caseId}/corrections`);
      expect(byTherapist.status).toBe(200);
      expect(byTherapist.json().corrections).toEqual([expect.objectContaining({ text, author: 'patient' })]);
      expect((await api(w.otherTherapist, 'GET', `/cases/${w.a.caseId}/corrections`)).json()).toMatchObject({
        error: 'FORBIDDEN',
      });
      const supervised = (await api(w.supervisor, 'GET', `/supervision/cases/${w.a.caseId}/transcripts`)).json();
      expect(supervised.corrections).toEqual([expect.objectContaining({ text, author: 'patient' })]);

      // A correction of a correction, and of the case as a whole.
      const first = res.json().id as string;
      expect(
        (await api(w.a.patient, 'POST', '/me/corrections', { caseId: w.a.caseId, noteId: first, text: 'x' })).status,
      ).toBe(201);
      expect((await api(w.a.patient, 'POST', '/me/corrections', { caseId: w.a.caseId, text: 'y' })).status).toBe(201);

      // A therapist note (written at the appointment's end, sealed the same way), and a correction disputing it.
      const { store, keys } = ts.server;
      const noteId = newId('nt');
      const sealed = sealNote(keys, w.a.caseId, noteId, 'Sleep poor; agreed a diary.');
      await store.kysely
        .insertInto('notes')
        .values({
          id: noteId,
          case_id: w.a.caseId,
          kind: 'therapist',
          appointment_id: w.a.appointmentId,
          conversation_id: null,
          seq: null,
          target_note_id: null,
          author_id: w.therapist.id,
          author_role: 'therapist',
          key_id: sealed.keyId,
          text_ct: sealed.ciphertext,
          created_at: Date.now(),
        })
        .execute();
      const disputeNote = { caseId: w.a.caseId, noteId, text: 'Not a diary: a log.' };
      expect((await api(w.a.patient, 'POST', '/me/corrections', disputeNote)).status).toBe(201);
      const withNote = await api(w.a.patient, 'GET', '/me/export');
      expect(withNote.json().cases[0].notes).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            noteId,
            kind: 'therapist',
            appointmentId: w.a.appointmentId,
            author: 'therapist',
            text: 'Sleep poor; agreed a diary.',
          }),
          expect.objectContaining({ kind: 'correction', disputes: { noteId }, text: 'Not a diary: a log.' }),
        ]),
      );
      expect(withNote.text).not.toContain(w.therapist.id);
    },
  );

  it.skipIf(!available)('refuses corrections that point elsewhere or are malformed, with stable codes', async () => {
    const w = await world();
    const post = (body: unknown, who: Party = w.a.patient) => api(who, 'POST', '/me/corrections', body);
    const cases: [unknown, number, string][] = [
      [{ caseId: w.a.caseId, seq: 1, text: 'x' }, 400, 'VALIDATION_FAILED'],
      [{ caseId: w.a.caseId, text: '' }, 400, 'VALIDATION_FAILED'],
      [{ caseId: w.a.caseId, text: '   ' }, 400, 'VALIDATION_FAILED'],
      [{ caseId: w.a.caseId, text: 'x'.repeat(4001) }, 400, 'VALIDATION_FAILED'],
      [{ caseId: w.a.caseId, text: 'x', extra: 1 }, 400, 'VALIDATION_FAILED'],
      [{ caseId: w.a.caseId, conversationId: w.a.conv, noteId: 'nt_x', text: 'x' }, 400, 'VALIDATION_FAILED'],
      [{ caseId: w.a.caseId, conversationId: w.b.conv, seq: 1, text: 'x' }, 404, 'NOT_FOUND'],
      [{ caseId: w.a.caseId, conversationId: w.a.conv, seq: 99, text: 'x' }, 404, 'NOT_FOUND'],
      [{ caseId: w.a.caseId, noteId: 'nt_nothing', text: 'x' }, 404, 'NOT_FOUND'],
      [{ caseId: 'C-NONE-0000', text: 'x' }, 404, 'NOT_FOUND'],
      [{ caseId: w.b.caseId, text: 'x' }, 403, 'FORBIDDEN'],
    ];
    for (const [body, status, code] of cases) {
      const res = await post(body);
      expect({ body, status: res.status, code: res.json().error }).toEqual({ body, status, code });
    }
    expect((await post({ caseId: w.a.caseId, text: 'x' }, w.therapist)).json().error).toBe('FORBIDDEN');
    expect((await api(null, 'POST', '/me/corrections', { caseId: w.a.caseId, text: 'x' })).status).toBe(401);
    // The record is as it was: no correction was stored by any of these.
    expect((await api(w.a.patient, 'GET', `/cases/${w.a.caseId}/corrections`)).json().corrections).toEqual([]);
  });

  it.skipIf(!available)('erases identity on request (after discharge) while the messages stay readable', async () => {
    const w = await world();
    const identityDeps = { db: ts.server.store.kysely, provider: FileKeyProvider.openOrCreate(ts.dataDir) };
    const asked = await api(w.a.patient, 'POST', '/me/requests', { kind: 'erasure', scope: 'identity' });
    expect(asked.status).toBe(201);
    expect(asked.json()).toMatchObject({
      kind: 'erasure',
      scope: 'identity',
      caseRef: null,
      status: 'recorded',
      outcome: 'identity-kept-while-a-case-is-active-erased-at-discharge',
      resolvedAt: null,
    });
    expect(await readIdentity(identityDeps, w.a.patient.id)).toMatchObject({ name: w.a.identityName });

    await ts.server.store.kysely
      .updateTable('cases')
      .set({ status: 'discharged', discharged_at: Date.now() })
      .where('id', '=', w.a.caseId)
      .execute();
    const listed = (await api(w.a.patient, 'GET', '/me/requests')).json();
    expect(listed.requests).toEqual([
      expect.objectContaining({ status: 'honoured', outcome: 'identity-erased', resolvedAt: expect.any(String) }),
    ]);
    expect(await readIdentity(identityDeps, w.a.patient.id)).toBe('erased');
    await ts.server.audit.flush();
    const onAccount = await ts.server.audit.sink.readByResources([{ type: 'user', id: w.a.patient.id }], 1, 1000);
    expect(onAccount.map((e) => e.reason)).toEqual(['erasure.identity', 'erasure.identity.honoured']);

    const exported = await api(w.a.patient, 'GET', '/me/export');
    expect(exported.json().you).toMatchObject({ identity: null, identityErasedAt: expect.any(String) });
    expect(exported.text).not.toContain(w.a.identityName);
    for (const m of w.a.markers) expect(exported.text).toContain(m);
    // The other patient's identity is untouched.
    expect(await readIdentity(identityDeps, w.b.patient.id)).toMatchObject({ name: w.b.identityName });
  });

  it.skipIf(!available)('carries out a deferred identity erasure when an admin discharges the case', async () => {
    const w = await world();
    const identityDeps = { db: ts.server.store.kysely, provider: FileKeyProvider.openOrCreate(ts.dataDir) };
    const asked = await api(w.a.patient, 'POST', '/me/requests', { kind: 'erasure', scope: 'identity' });
    expect(asked.json()).toMatchObject({ status: 'recorded' });
    const discharged = await api(w.admin, 'POST', `/admin/cases/${w.a.caseId}/discharge`, {});
    expect(discharged.status).toBe(200);
    // Without the patient calling anything again, the identity is gone and the request says so.
    expect(await readIdentity(identityDeps, w.a.patient.id)).toBe('erased');
    const row = await ts.server.store.kysely
      .selectFrom('data_requests')
      .select(['status', 'outcome'])
      .where('user_id', '=', w.a.patient.id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'honoured', outcome: 'identity-erased' });
    // The clinical record stays readable to the patient.
    const exported = await api(w.a.patient, 'GET', '/me/export');
    for (const m of w.a.markers) expect(exported.text).toContain(m);
  });

  it.skipIf(!available)('honours identity erasure at once for a patient with no active case', async () => {
    const w = await world();
    await ts.server.store.kysely
      .updateTable('cases')
      .set({ status: 'discharged', discharged_at: Date.now() })
      .where('id', '=', w.b.caseId)
      .execute();
    const asked = await api(w.b.patient, 'POST', '/me/requests', { kind: 'erasure', scope: 'identity' });
    expect(asked.json()).toMatchObject({ status: 'honoured', outcome: 'identity-erased' });
    const identityDeps = { db: ts.server.store.kysely, provider: FileKeyProvider.openOrCreate(ts.dataDir) };
    expect(await readIdentity(identityDeps, w.b.patient.id)).toBe('erased');
  });

  it.skipIf(!available)(
    'restricts a case on clinical erasure: staff refused over HTTP and WebSocket, the patient still exports all',
    async () => {
      const w = await world();
      // The therapist is in the session when the patient asks.
      const live = await TestClient.connect(ts.url);
      await live.auth(w.therapist.token);
      expect((await live.join(w.a.conv)).type).toBe('joined');

      const asked = await api(w.a.patient, 'POST', '/me/requests', {
        kind: 'erasure',
        scope: 'clinical',
        caseId: w.a.caseId,
      });
      expect(asked.status).toBe(201);
      expect(asked.json()).toMatchObject({
        status: 'restricted',
        outcome: 'clinical-records-exempt-restricted-until-retention-ends',
        caseRef: w.a.caseId,
      });
      await live.close();

      const again = await TestClient.connect(ts.url);
      await again.auth(w.therapist.token);
      expect(await again.join(w.a.conv)).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
      await again.close();
      expect((await api(w.therapist, 'GET', `/cases/${w.a.caseId}/corrections`)).json().error).toBe('FORBIDDEN');
      expect((await api(w.supervisor, 'GET', `/supervision/cases/${w.a.caseId}/transcripts`)).json().error).toBe(
        'FORBIDDEN',
      );
      const listing = (await api(w.supervisor, 'GET', '/supervision/cases')).json();
      expect(listing.cases).toEqual([
        expect.objectContaining({ ref: w.a.caseId, access: 'processing-restricted', appointments: [] }),
      ]);

      const exported = await api(w.a.patient, 'GET', '/me/export');
      expect(exported.json().cases[0].restrictedAt).toEqual(expect.any(String));
      for (const m of w.a.markers) expect(exported.text).toContain(m);
      expect((await api(w.a.patient, 'GET', '/me/requests')).json().requests).toHaveLength(1);
      // The other patient's case is untouched: their therapist still joins.
      const b = await TestClient.connect(ts.url);
      await b.auth(w.otherTherapist.token);
      expect((await b.join(w.b.conv)).type).toBe('joined');
      await b.close();
    },
  );

  it.skipIf(!available)('restricts on clinical restriction, and refuses malformed requests', async () => {
    const w = await world();
    const asked = await api(w.a.patient, 'POST', '/me/requests', {
      kind: 'restriction',
      scope: 'clinical',
      caseId: w.a.caseId,
    });
    expect(asked.json()).toMatchObject({ status: 'honoured', outcome: 'clinical-processing-restricted' });
    expect((await api(w.therapist, 'GET', `/cases/${w.a.caseId}/corrections`)).status).toBe(403);
    const bad: [unknown, number, string][] = [
      [{ kind: 'erasure', scope: 'clinical' }, 400, 'VALIDATION_FAILED'],
      [{ kind: 'erasure', scope: 'identity', caseId: w.a.caseId }, 400, 'VALIDATION_FAILED'],
      [{ kind: 'forget-me', scope: 'identity' }, 400, 'VALIDATION_FAILED'],
      [{ kind: 'erasure', scope: 'clinical', caseId: w.b.caseId }, 403, 'FORBIDDEN'],
      [{ kind: 'erasure', scope: 'clinical', caseId: 'C-NONE-0000' }, 404, 'NOT_FOUND'],
    ];
    for (const [body, status, code] of bad) {
      const res = await api(w.a.patient, 'POST', '/me/requests', body);
      expect({ body, status: res.status, code: res.json().error }).toEqual({ body, status, code });
    }
    expect((await api(w.therapist, 'POST', '/me/requests', { kind: 'erasure', scope: 'identity' })).status).toBe(403);
    // The other patient's case was not restricted by the refused request.
    expect((await api(w.otherTherapist, 'GET', `/cases/${w.b.caseId}/corrections`)).status).toBe(200);
  });

  it.skipIf(!available)(
    'reports who accessed the record: joins, history reads and break-glass with its reason',
    async () => {
      const w = await world();
      const c = await TestClient.connect(ts.url);
      await c.auth(w.therapist.token);
      await c.join(w.a.conv);
      expect((await c.request({ type: 'history', conv: w.a.conv })).type).toBe('history');
      await c.close();
      const grantId = newId('bg');
      const grantedAt = Date.now();
      const reason = 'Complaint investigation 2026-17: reviewing the session of the complaint.';
      await ts.server.store.kysely
        .insertInto('break_glass_grants')
        .values({
          id: grantId,
          case_id: w.a.caseId,
          admin_id: w.admin.id,
          reason,
          granted_at: grantedAt,
          expires_at: grantedAt + 60 * 60_000,
          revoked_at: null,
        })
        .execute();
      ts.server.audit.record({
        actor: { userId: w.admin.id, role: 'admin' },
        action: 'break-glass',
        resource: { type: 'grant', id: grantId },
        outcome: 'granted',
        reason: 'break-glass-grant',
        time: grantedAt,
      });

      const res = await api(w.a.patient, 'GET', '/me/access-report');
      expect(res.status).toBe(200);
      const report = res.json() as AccessReport;
      const summary = report.events.map((e: ReportEvent) => [
        e.actor.role,
        e.actor.relation,
        e.action,
        e.outcome,
        e.record?.type,
      ]);
      expect(summary).toEqual(
        expect.arrayContaining([
          ['therapist', 'therapist-of-case', 'conversation.join', 'granted', 'conversation'],
          ['therapist', 'therapist-of-case', 'history.read', 'granted', 'conversation'],
          ['admin', 'other', 'break-glass', 'granted', 'grant'],
        ]),
      );
      const join = report.events.find((e: ReportEvent) => e.action === 'conversation.join')!;
      expect(join.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(join.record?.caseRef).toBe(w.a.caseId);
      expect(join.actor.label).toMatch(/^therapist-[0-9A-Z]{6}$/);
      // The same therapist has the same label on every event.
      const labels = new Set(
        report.events.filter((e: ReportEvent) => e.actor.role === 'therapist').map((e: ReportEvent) => e.actor.label),
      );
      expect(labels.size).toBe(1);
      const bg = report.events.find((e: ReportEvent) => e.action === 'break-glass')!;
      expect(bg.breakGlass).toMatchObject({ reason, expiresAt: new Date(grantedAt + 60 * 60_000).toISOString() });
      expect(report.breakGlassGrants).toEqual([
        expect.objectContaining({ grantId, caseRef: w.a.caseId, reason, revokedAt: null }),
      ]);
      // Staff by label, never by id; the patient's own actions only when asked for; nothing of the other patient.
      for (const id of [w.therapist.id, w.admin.id, w.supervisor.id]) expect(res.text).not.toContain(id);
      expect(report.events.some((e: ReportEvent) => e.actor.relation === 'you')).toBe(false);
      for (const s of secretsOf(w.b)) expect(res.text).not.toContain(s);
      const own = (await api(w.a.patient, 'GET', '/me/access-report?includeOwn=true')).json() as AccessReport;
      expect(own.events.some((e: ReportEvent) => e.actor.relation === 'you' && e.action === 'conversation.join')).toBe(
        true,
      );

      // Paging: one event a page, following `next`, reads the same events.
      const paged: number[] = [];
      let from: number | null = 1;
      for (let i = 0; from !== null && i < 50; i++) {
        const page = (await api(w.a.patient, 'GET', `/me/access-report?limit=1&from=${from}`)).json() as AccessReport;
        paged.push(...page.events.map((e: ReportEvent) => e.seq));
        from = page.next;
      }
      expect(paged).toEqual(report.events.map((e: ReportEvent) => e.seq));
      expect((await api(w.a.patient, 'GET', '/me/access-report?limit=0')).status).toBe(400);
      expect((await api(w.therapist, 'GET', '/me/access-report')).status).toBe(403);
    },
  );

  it.skipIf(!available)(
    'shows a supervisor pseudonymised transcripts of their cases, and refuses another supervisor',
    async () => {
      const w = await world();
      const list = await api(w.supervisor, 'GET', '/supervision/cases');
      expect(list.status).toBe(200);
      expect(list.json().cases).toEqual([
        {
          ref: w.a.caseId,
          status: 'active',
          openedAt: expect.any(String),
          dischargedAt: null,
          therapist: expect.stringMatching(/^therapist-[0-9A-Z]{6}$/),
          access: 'granted',
          appointments: [expect.objectContaining({ appointmentId: w.a.appointmentId, status: 'live' })],
        },
      ]);

      const res = await api(w.supervisor, 'GET', `/supervision/cases/${w.a.caseId}/transcripts`);
      expect(res.status).toBe(200);
      const body = res.json();
      expect(body.case).toMatchObject({ ref: w.a.caseId, therapist: list.json().cases[0].therapist });
      expect(body.thread.messages.map((m: { seq: number; speaker: string }) => m.speaker)).toEqual(['patient']);
      expect(body.appointments[0].messages.map((m: { seq: number; speaker: string }) => [m.seq, m.speaker])).toEqual([
        [1, 'patient'],
        [2, 'therapist'],
      ]);
      for (const m of w.a.markers) expect(res.text).toContain(m);
      // No user ids, no identity fields, nothing of another case.
      for (const id of [w.a.patient.id, w.therapist.id, w.supervisor.id]) expect(res.text).not.toContain(id);
      expect(res.text).not.toContain(w.a.identityName);
      expect(res.text).not.toMatch(/example\.invalid|999 000/);
      expect(res.text).not.toMatch(/"u_/);
      for (const s of secretsOf(w.b)) expect(res.text).not.toContain(s);

      const refused = await api(w.otherSupervisor, 'GET', `/supervision/cases/${w.a.caseId}/transcripts`);
      expect(refused.status).toBe(403);
      expect(refused.json().error).toBe('FORBIDDEN');
      expect((await api(w.therapist, 'GET', `/supervision/cases/${w.a.caseId}/transcripts`)).status).toBe(403);
      expect((await api(w.supervisor, 'GET', '/supervision/cases/C-NONE-0000/transcripts')).status).toBe(404);
      // Read-only: there is nothing to write to.
      expect((await api(w.supervisor, 'POST', `/supervision/cases/${w.a.caseId}/transcripts`, {})).status).toBe(404);
      // A supervisor is not a reader of notes outside this view.
      expect((await api(w.supervisor, 'GET', `/cases/${w.a.caseId}/corrections`)).status).toBe(403);

      await ts.server.audit.flush();
      const events = await ts.server.audit.sink.readByResources([{ type: 'case', id: w.a.caseId }], 1, 1000);
      const actions = events.map((e) => [e.action, e.outcome, typeof e.actor === 'string' ? e.actor : e.actor.userId]);
      expect(actions).toEqual(
        expect.arrayContaining([
          ['supervision.read', 'granted', w.supervisor.id],
          ['access.refused', 'refused', w.otherSupervisor.id],
        ]),
      );
    },
  );

  it.skipIf(!available)('audits exports, corrections and requests with fixed codes, never the text', async () => {
    const w = await world();
    await api(w.a.patient, 'GET', '/me/export?format=html');
    await api(w.a.patient, 'POST', '/me/corrections', { caseId: w.a.caseId, text: 'a private correction text' });
    await api(w.a.patient, 'POST', '/me/requests', { kind: 'restriction', scope: 'clinical', caseId: w.a.caseId });
    await ts.server.audit.flush();
    const events = await ts.server.audit.sink.readByResources([{ type: 'case', id: w.a.caseId }], 1, 1000);
    const mine = events.filter((e) => typeof e.actor !== 'string' && e.actor.userId === w.a.patient.id);
    const onAccount = await ts.server.audit.sink.readByResources([{ type: 'user', id: w.a.patient.id }], 1, 1000);
    expect(onAccount.map((e) => [e.action, e.reason])).toEqual([['export', 'identity.html']]);
    expect(mine.map((e) => [e.action, e.reason])).toEqual(
      expect.arrayContaining([
        ['export', 'patient-own-case.html'],
        ['record.correction', 'patient-own-case'],
        ['record.request', 'restriction.clinical'],
      ]),
    );
    expect(JSON.stringify(events)).not.toContain('private correction');
  });
});

describe('the OpenAPI document', () => {
  it('describes the data-rights and supervision routes, each with its tag, bearer security and schemas', async () => {
    const ts = await startServer();
    try {
      const doc = (await (await fetch(`${ts.httpUrl}/v1/openapi.json`)).json()) as {
        paths: Record<string, Record<string, { tags?: string[]; security?: unknown[]; responses: object }>>;
      };
      const routes = [
        ['/v1/me/export', 'get'],
        ['/v1/me/corrections', 'post'],
        ['/v1/cases/{caseId}/corrections', 'get'],
        ['/v1/me/requests', 'post'],
        ['/v1/me/requests', 'get'],
        ['/v1/me/access-report', 'get'],
        ['/v1/supervision/cases', 'get'],
        ['/v1/supervision/cases/{caseId}/transcripts', 'get'],
      ] as const;
      for (const [path, method] of routes) {
        const op = doc.paths[path]?.[method];
        expect({ path, method, tags: op?.tags?.length, security: op?.security }).toEqual({
          path,
          method,
          tags: 1,
          security: [{ bearer: [] }],
        });
        expect(Object.keys(op!.responses)).toEqual(expect.arrayContaining(['401']));
      }
      expect(Object.keys(doc.paths).filter((p) => p.startsWith('/v1/supervision') && doc.paths[p]!.post)).toEqual([]);
    } finally {
      await ts.stop();
    }
  });
});

describe('when the audit log is unavailable', () => {
  /** A log that can be switched off, as a database going away would. */
  class SwitchableSink extends MemoryAuditSink {
    down = false;
    override append(events: readonly AuditEventInput[]): Promise<AuditEvent[]> {
      if (this.down) return Promise.reject(new StoreUnavailableError('audit database away'));
      return super.append(events);
    }
  }

  it('refuses an export and a request it cannot audit, and discloses nothing', async () => {
    const sink = new SwitchableSink();
    const ts = await startServer({}, { auditSink: sink });
    try {
      const s = await ts.seed();
      sink.down = true;
      const started = Date.now();
      const get = await fetch(`${ts.httpUrl}/v1/me/export`, { headers: { authorization: `Bearer ${s.patientToken}` } });
      expect(get.status).toBe(503);
      expect(await get.json()).toMatchObject({ error: 'UNAVAILABLE' });
      expect(Date.now() - started).toBeLessThan(3000);
      const post = await fetch(`${ts.httpUrl}/v1/me/requests`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.patientToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'restriction', scope: 'clinical', caseId: s.caseId }),
      });
      expect(post.status).toBe(503);
      const row = await ts.server.store.kysely
        .selectFrom('cases')
        .select('restricted_at')
        .where('id', '=', s.caseId)
        .executeTakeFirstOrThrow();
      expect(row.restricted_at).toBeNull();
      const read = await fetch(`${ts.httpUrl}/v1/cases/${s.caseId}/corrections`, {
        headers: { authorization: `Bearer ${s.therapistToken}` },
      });
      expect(read.status).toBe(503);
      sink.down = false;
    } finally {
      await ts.stop();
    }
  });
});
