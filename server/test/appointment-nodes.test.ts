/**
 * Across nodes: appointment changes reach the members of a transcript on every node (and their cached status moves
 * on, so a patient admitted by a therapist on another node can write at once), and risk alerts reach the case's
 * therapist and supervisor on every connection they have, on any node, joined or not. Two nodes share one SQLite file
 * and an in-process bus; where PostgreSQL and Redis run, also two nodes on those.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { AppointmentFrame, RiskAlertFrame } from '@therapy-chat/protocol';
import { MemoryBus } from '../src/bus/memory-bus.js';
import { createUser } from '../src/domain/care-setup.js';
import { mintToken, startServer, tempDataDir, type TestServer } from './helpers/harness.js';
import { freshPostgresDatabase, postgres, redis, REDIS_URL } from './helpers/services.js';
import { TestClient } from './helpers/test-client.js';
import { seedScheduled } from './helpers/appointments.js';

const clusterReady = (await postgres()).available && (await redis()).available;
const drops: (() => Promise<void>)[] = [];
const servers: TestServer[] = [];
const clients: TestClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const s of servers.splice(0)) await s.stop();
});
afterAll(async () => {
  for (const drop of drops.splice(0)) await drop();
});

async function client(url: string, token: string): Promise<TestClient> {
  const c = await TestClient.connect(url);
  clients.push(c);
  await c.auth(token);
  return c;
}

type Nodes = () => Promise<[TestServer, TestServer]>;

const oneFileOneBus: Nodes = async () => {
  const dataDir = tempDataDir();
  const bus = new MemoryBus();
  const a = await startServer({}, { bus }, dataDir);
  servers.push(a);
  const b = await startServer({}, { bus }, dataDir);
  servers.push(b);
  return [a, b];
};

const postgresAndRedis: Nodes = async () => {
  const db = await freshPostgresDatabase();
  drops.push(db.drop);
  const dataDir = tempDataDir();
  const env = { DATABASE_URL: db.url, REDIS_URL };
  const a = await startServer(env, {}, dataDir);
  servers.push(a);
  const b = await startServer(env, {}, dataDir);
  servers.push(b);
  return [a, b];
};

const isStatus = (status: string) => (f: { type: string }) =>
  f.type === 'appointment' && (f as AppointmentFrame).status === status;
const alerts = (c: TestClient) => c.frames.filter((f): f is RiskAlertFrame => f.type === 'risk-alert');

describe('risk alerts on one node', () => {
  it('reach every connection of the therapist and the supervisor, joined or not, and nobody else', async () => {
    const ts = await startServer();
    servers.push(ts);
    const s = await seedScheduled(ts);
    const otherSupervisor = await createUser(ts.server.store, 'supervisor');

    const patient = await client(ts.url, s.patientToken);
    const console1 = await client(ts.url, s.therapistToken);
    const console2 = await client(ts.url, s.therapistToken); // connected, not joined
    const supervisor = await client(ts.url, s.supervisorToken); // supervisors never join
    const stranger = await client(ts.url, s.strangerToken);
    const notMine = await client(ts.url, await mintToken(ts.dataDir, otherSupervisor, 'supervisor'));
    await patient.join(s.conv);
    await console1.join(s.conv);
    await console1.request({ type: 'admit', conv: s.conv });
    await patient.waitFor(isStatus('live'));

    expect(await patient.sendText(s.conv, 'I want to kill myself, I have been thinking', 'r-1')).toMatchObject({
      type: 'ack',
      seq: 1,
    });
    const expected = { conv: s.conv, seq: 1, caseId: s.caseId, level: 'high', category: 'suicide' };
    for (const c of [console1, console2, supervisor])
      expect(await c.waitFor<RiskAlertFrame>((f) => f.type === 'risk-alert')).toMatchObject(expected);
    const supervisorAlert = alerts(supervisor)[0]!;
    expect(JSON.stringify(supervisorAlert)).not.toMatch(/kill myself/);
    expect(JSON.stringify(supervisorAlert)).not.toContain(s.patientId);
    // Settle, then count: one alert per connection, none for anyone else.
    await patient.sendText(s.conv, 'anyway, work was fine', 'r-2');
    await console1.waitForSeq(s.conv, 2);
    for (const c of [console1, console2, supervisor]) expect(alerts(c)).toHaveLength(1);
    for (const c of [patient, stranger, notMine]) expect(alerts(c)).toHaveLength(0);
  });
});

describe.each([
  ['one SQLite file and an in-process bus', oneFileOneBus, false],
  ['PostgreSQL and Redis', postgresAndRedis, !clusterReady],
] as const)('two nodes on %s', (_name, nodes, skip) => {
  it.skipIf(skip)('an admit on one node opens the waiting room on the other', async () => {
    const [a, b] = await nodes();
    const s = await seedScheduled(a);
    const patient = await client(a.url, s.patientToken);
    const therapist = await client(b.url, s.therapistToken);
    await therapist.join(s.conv);
    expect(await patient.join(s.conv)).toMatchObject({ appointmentStatus: 'waiting' });
    await therapist.waitFor(isStatus('waiting'));
    expect(await patient.sendText(s.conv, 'hello?', 'w-1')).toMatchObject({ code: 'WAITING_ROOM' });

    expect(await therapist.request({ type: 'admit', conv: s.conv })).toMatchObject({ status: 'live' });
    await patient.waitFor(isStatus('live'));
    // Node A's cached status moved on with the event: the patient's resend is accepted at once.
    expect(await patient.sendText(s.conv, 'hello?', 'w-1')).toMatchObject({ type: 'ack', seq: 1 });
    await therapist.waitForSeq(s.conv, 1);

    expect(await therapist.request({ type: 'end', conv: s.conv })).toMatchObject({ status: 'ended' });
    await patient.waitFor(isStatus('ended'));
    expect(await patient.sendText(s.conv, 'bye', 'w-2')).toMatchObject({ code: 'CONVERSATION_CLOSED' });
  });

  it.skipIf(skip)('a risk alert raised on one node reaches the therapist and supervisor on the other', async () => {
    const [a, b] = await nodes();
    const s = await seedScheduled(a);
    const patient = await client(a.url, s.patientToken);
    const therapistA = await client(a.url, s.therapistToken);
    const therapistB = await client(b.url, s.therapistToken); // not joined, other node
    const supervisorB = await client(b.url, s.supervisorToken);
    await patient.join(s.conv);
    await therapistA.join(s.conv);
    await therapistA.request({ type: 'admit', conv: s.conv });
    await patient.waitFor(isStatus('live'));
    await patient.sendText(s.conv, 'I want to kill myself', 'x-1');
    for (const c of [therapistA, therapistB, supervisorB])
      expect(await c.waitFor<RiskAlertFrame>((f) => f.type === 'risk-alert')).toMatchObject({
        seq: 1,
        caseId: s.caseId,
        conv: s.conv,
      });
    await patient.sendText(s.conv, 'sorry', 'x-2');
    await therapistA.waitForSeq(s.conv, 2);
    await new Promise((r) => setTimeout(r, 50));
    for (const c of [therapistA, therapistB, supervisorB]) expect(alerts(c)).toHaveLength(1);
    expect(alerts(patient)).toHaveLength(0);
  });
});
