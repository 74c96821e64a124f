/**
 * When the server ends access, the SDK ends too, and tells the app: a conversation whose access was revoked is left
 * for good (its unsent messages fail with `ACCESS_REVOKED`), and a `LOGGED_OUT` close stops the client. Real server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SqlAuditSink } from '../../server/src/audit/sql-audit-sink.js';
import { createUser } from '../../server/src/domain/care-setup.js';
import { ChatError, MemoryOutbox, type LoggedOutEvent, type RevokedEvent } from '../src/index.js';
import {
  Clients,
  cutAllConnections,
  mintToken,
  sleep,
  startServer,
  waitUntil,
  type TestServer,
} from './helpers/sdk-harness.js';

const SIX_WEEKS = 42 * 24 * 3600 * 1000;
const clients = new Clients();
let ts: TestServer | undefined;

afterEach(async () => {
  await clients.closeAll();
  await ts?.stop();
  ts = undefined;
});

describe('access ending under a joined conversation', () => {
  it('leaves the conversation for good, fails its unsent messages with ACCESS_REVOKED, and says so', async () => {
    const dischargedAt = Date.UTC(2026, 9, 1, 10, 0, 0);
    let now = dischargedAt + SIX_WEEKS - 60_000;
    ts = await startServer({}, { now: () => now });
    const s = await ts.seed();
    await ts.server.store.kysely
      .updateTable('cases')
      .set({ status: 'discharged', discharged_at: dischargedAt })
      .where('id', '=', s.caseId)
      .execute();
    const token = await mintToken(ts.dataDir, s.therapistId, 'therapist', { ttlSeconds: 10 * SIX_WEEKS });
    const outbox = new MemoryOutbox();
    const therapist = clients.create({ url: ts.url, getToken: () => token, outbox });
    const conversation = await therapist.join(s.threadId);
    expect(conversation.closed).toBe(true); // discharged: read-only
    const revoked: RevokedEvent[] = [];
    const onClient: RevokedEvent[] = [];
    conversation.on('revoked', (e) => revoked.push(e));
    therapist.on('revoked', (e) => onClient.push(e));

    now = dischargedAt + SIX_WEEKS + 1000;
    // Two messages written as access ends: neither can ever be delivered.
    const first = conversation.send('a note to self');
    const second = conversation.send('and another');
    await expect(first).rejects.toMatchObject({ code: 'ACCESS_REVOKED', conv: s.threadId });
    await expect(second).rejects.toMatchObject({ code: 'ACCESS_REVOKED', conv: s.threadId });
    await waitUntil(() => revoked.length === 1, 2000, 'the revoked event');
    expect(revoked[0]!.conversation).toBe(conversation);
    expect(revoked[0]!.error).toBeInstanceOf(ChatError);
    expect(revoked[0]!.error.code).toBe('ACCESS_REVOKED');
    expect(onClient).toHaveLength(1);
    expect(conversation.joined).toBe(false);
    expect(conversation.pending).toEqual([]);
    expect(await outbox.load()).toEqual([]);
    await expect(conversation.send('later')).rejects.toMatchObject({ code: 'ACCESS_REVOKED' });
    await expect(conversation.history()).rejects.toMatchObject({ code: 'ACCESS_REVOKED' });

    // After a reconnect the client does not try to join it again.
    const joinsBefore = (await auditJoins(ts)).length;
    cutAllConnections(ts);
    await waitUntil(() => therapist.stats.connects === 2 && therapist.state === 'connected', 5000, 'the reconnect');
    await sleep(200);
    expect(therapist.joined).toEqual([]);
    expect((await auditJoins(ts)).length).toBe(joinsBefore);
    expect(revoked).toHaveLength(1);
  });

  it('keeps the patient’s conversation going while the therapist’s is revoked', async () => {
    ts = await startServer();
    const s = await ts.seed();
    const patient = clients.create({ url: ts.url, getToken: () => s.patientToken });
    const therapist = clients.create({ url: ts.url, getToken: () => s.therapistToken });
    const pc = await patient.join(s.conv);
    const tc = await therapist.join(s.conv);
    const revoked: RevokedEvent[] = [];
    tc.on('revoked', (e) => revoked.push(e));
    pc.on('revoked', (e) => revoked.push(e));
    await pc.send('hello');
    const fresh = await createUser(ts.server.store, 'therapist');
    await ts.server.store.kysely.updateTable('cases').set({ therapist_id: fresh }).where('id', '=', s.caseId).execute();
    ts.server.chat.accessChanged(s.caseId);
    await waitUntil(() => revoked.length === 1, 1000, 'revocation');
    expect(revoked[0]!.conversation).toBe(tc);
    expect((await pc.send('still there?')).seq).toBe(2);
    expect(pc.joined).toBe(true);
  });
});

describe('LOGGED_OUT (4005)', () => {
  it('stops the client without reconnecting and emits loggedOut', async () => {
    ts = await startServer();
    const s = await ts.seed();
    const patient = clients.create({ url: ts.url, getToken: () => s.patientToken });
    await patient.join(s.conv);
    const events: LoggedOutEvent[] = [];
    patient.on('loggedOut', (e) => events.push(e));
    const connections = (
      ts.server.chat as unknown as { connections: Map<string, { closeWith(name: string, reason: string): void }> }
    ).connections;
    for (const c of connections.values()) c.closeWith('LOGGED_OUT', 'logged out on another device');
    await waitUntil(() => events.length === 1, 2000, 'loggedOut');
    expect(events[0]!.error).toMatchObject({ code: 'LOGGED_OUT', closeCode: 4005 });
    expect(patient.state).toBe('closed');
    await sleep(300);
    expect(patient.stats.connects).toBe(1);
    expect(ts.server.chat.connectionCount).toBe(0);
    await expect(patient.connect()).rejects.toMatchObject({ code: 'LOGGED_OUT' });
  });
});

/** The joins the server granted so far, from its audit log. */
async function auditJoins(server: TestServer) {
  await server.server.audit.flush();
  const sink = SqlAuditSink.sqlite({ dataDir: server.dataDir, readonly: true });
  try {
    return (await sink.read(1, 1000)).filter((e) => e.action === 'conversation.join');
  } finally {
    await sink.close();
  }
}
