/**
 * Appointments through the SDK against a real server: the patient's app shows the waiting room and keeps what the
 * patient types in the outbox until the therapist admits them; the therapist's console admits and ends; both see
 * each change as an `appointment` event. Risk alerts reach a supervisor's client that joined nothing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChatError, type AppointmentEvent, type RiskAlertEvent } from '../src/index.js';
import { seedScheduled, type Scheduled } from '../../server/test/helpers/appointments.js';
import { Clients, record, sleep, startServer, waitUntil, type TestServer } from './helpers/sdk-harness.js';

let ts: TestServer;
let s: Scheduled;
const clients = new Clients();

beforeEach(async () => {
  ts = await startServer();
  s = await seedScheduled(ts);
});

afterEach(async () => {
  await clients.closeAll();
  await ts.stop();
});

describe('an appointment through the SDK', () => {
  it("holds the waiting patient's messages until admitted, then delivers them; closes at the end", async () => {
    const patient = clients.create({ url: ts.url, getToken: () => s.patientToken });
    const therapist = clients.create({ url: ts.url, getToken: () => s.therapistToken });
    await Promise.all([patient.connect(), therapist.connect()]);
    const tc = await therapist.join(s.conv);
    const pc = await patient.join(s.conv);
    const pEvents: AppointmentEvent[] = [];
    const tEvents: AppointmentEvent[] = [];
    pc.on('appointment', (e) => pEvents.push(e));
    tc.on('appointment', (e) => tEvents.push(e));
    const seen = record(tc);

    await waitUntil(() => pc.appointmentStatus === 'waiting', 5000, 'patient sees the waiting room');
    expect(pc.inWaitingRoom).toBe(true);
    await waitUntil(() => tc.appointmentStatus === 'waiting', 5000, 'therapist sees the patient waiting');
    expect(tc.inWaitingRoom).toBe(false);

    // Typed in the waiting room: kept, not refused.
    let settled = false;
    const first = pc.send('Hello, I am here').finally(() => (settled = true));
    const second = pc.send('Running a bit nervous today');
    await sleep(200);
    expect(settled).toBe(false);
    expect(pc.pending.map((e) => e.text)).toEqual(['Hello, I am here', 'Running a bit nervous today']);

    expect(await tc.admit()).toBe('live');
    expect((await first).seq).toBe(1);
    expect((await second).seq).toBe(2);
    expect(pc.inWaitingRoom).toBe(false);
    await waitUntil(() => seen.length === 2, 5000, 'therapist receives both');
    expect(seen.map((m) => m.text)).toEqual(['Hello, I am here', 'Running a bit nervous today']);
    // Admitting again changes nothing.
    expect(await tc.admit()).toBe('live');

    expect(await tc.end()).toBe('ended');
    await waitUntil(() => pc.appointmentStatus === 'ended', 5000, 'patient hears the end');
    expect(pc.closed).toBe(true);
    const late = await pc.send('one more thing').catch((err: unknown) => err);
    expect(late).toBeInstanceOf(ChatError);
    expect((late as ChatError).code).toBe('CONVERSATION_CLOSED');
    const again = await tc.end();
    expect(again).toBe('ended');
    const refused = await tc.admit().catch((err: unknown) => err);
    expect((refused as ChatError).code).toBe('APPOINTMENT_NOT_LIVE');

    expect(pEvents.map((e) => e.status)).toEqual(['live', 'ended']);
    expect(tEvents.map((e) => e.status)).toEqual(['live', 'ended']);
  });

  it('refuses admit to the patient', async () => {
    const patient = clients.create({ url: ts.url, getToken: () => s.patientToken });
    await patient.connect();
    const pc = await patient.join(s.conv);
    const err = await pc.admit().catch((e: unknown) => e);
    expect((err as ChatError).code).toBe('FORBIDDEN');
  });

  it('alerts a supervisor who joined nothing, at the client, with no text', async () => {
    const patient = clients.create({ url: ts.url, getToken: () => s.patientToken });
    const therapist = clients.create({ url: ts.url, getToken: () => s.therapistToken });
    const supervisor = clients.create({ url: ts.url, getToken: () => s.supervisorToken });
    await Promise.all([patient.connect(), therapist.connect(), supervisor.connect()]);
    const alerts: RiskAlertEvent[] = [];
    supervisor.on('riskAlert', (e) => alerts.push(e));
    const tc = await therapist.join(s.conv);
    const pc = await patient.join(s.conv);
    await tc.admit();
    const ack = await pc.send('I want to kill myself');
    await waitUntil(() => alerts.length === 1, 5000, 'supervisor alert');
    expect(alerts[0]).toMatchObject({ conv: s.conv, seq: ack.seq, caseId: s.caseId, level: 'high' });
    expect(alerts[0]!.conversation).toBeUndefined();
    expect(JSON.stringify(alerts[0])).not.toMatch(/kill/);
  });
});
