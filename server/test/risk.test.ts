/**
 * Safety: a patient's message that matches the risk screen is delivered as usual; the therapist is alerted (without
 * the text), and the patient is shown crisis resources.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CrisisResourcesFrame, RiskAlertFrame } from '@therapy-chat/protocol';
import { startServer, tempDataDir, type TestServer } from './helpers/harness.js';
import { TestClient } from './helpers/test-client.js';

let ts: TestServer | undefined;
const clients: TestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await ts?.stop();
  ts = undefined;
});

async function session(env: Record<string, string> = {}) {
  ts = await startServer(env);
  const s = await ts.seed();
  const patient = await TestClient.connect(ts.url);
  const therapist = await TestClient.connect(ts.url);
  clients.push(patient, therapist);
  await patient.auth(s.patientToken);
  await therapist.auth(s.therapistToken);
  await patient.join(s.conv);
  await therapist.join(s.conv);
  return { s, patient, therapist, ts };
}

describe('risk screening', () => {
  it('delivers the message, alerts the therapist without its text, and shows the patient crisis resources', async () => {
    const { s, patient, therapist, ts: server } = await session();
    const text = 'Some nights I think I will KILL   myself, honestly';
    const ack = await patient.sendText(s.conv, text, 'risk-1');
    expect(ack).toMatchObject({ type: 'ack', seq: 1 });
    expect((await therapist.waitForSeq(s.conv, 1)).text).toBe(text);
    const alert = await therapist.waitFor<RiskAlertFrame>((f) => f.type === 'risk-alert');
    expect(alert).toMatchObject({ conv: s.conv, seq: 1, caseId: s.caseId, level: 'high', category: 'suicide' });
    expect(JSON.stringify(alert)).not.toMatch(/kill/i);
    const crisis = await patient.waitFor<CrisisResourcesFrame>((f) => f.type === 'crisis-resources');
    expect(crisis).toMatchObject({ conv: s.conv, seq: 1 });
    expect(crisis.contacts.length).toBeGreaterThan(0);
    // The patient is not sent the alert; the therapist is not sent the resources.
    expect(patient.frames.some((f) => f.type === 'risk-alert')).toBe(false);
    expect(therapist.frames.some((f) => f.type === 'crisis-resources')).toBe(false);
    // A resend is the same message: no second alert.
    await patient.sendText(s.conv, text, 'risk-1');
    await patient.sendText(s.conv, 'thank you for listening', 'risk-2');
    await therapist.waitForSeq(s.conv, 2);
    expect(therapist.frames.filter((f) => f.type === 'risk-alert')).toHaveLength(1);
    const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^tc_risk_hits_total\{category="suicide",level="high"\} 1$/m);
    expect(server.logs.text).toContain('risk screen hit');
    expect(server.logs.text).not.toMatch(/KILL|kill {2,}myself/);
  });

  it('does not screen the therapist, who names risks on purpose in safety planning', async () => {
    const { s, patient, therapist } = await session();
    await therapist.sendText(s.conv, 'When you said you want to die, what did you mean?');
    await patient.waitForSeq(s.conv, 1);
    await therapist.waitForSeq(s.conv, 1);
    expect(
      [...patient.frames, ...therapist.frames].some((f) => f.type === 'risk-alert' || f.type === 'crisis-resources'),
    ).toBe(false);
  });

  it('shows the crisis resources the operator configured', async () => {
    const dir = tempDataDir();
    const file = path.join(dir, 'crisis.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        version: 1,
        heading: 'Help is here',
        body: 'In an emergency call the number below.',
        contacts: [{ name: 'Test listening line', contact: 'Call 0000 000 000', availability: '24 hours' }],
      }),
    );
    const { s, patient } = await session({ CRISIS_RESOURCES_FILE: file });
    await patient.sendText(s.conv, 'I want to die');
    const crisis = await patient.waitFor<CrisisResourcesFrame>((f) => f.type === 'crisis-resources');
    expect(crisis).toMatchObject({ heading: 'Help is here', contacts: [{ name: 'Test listening line' }] });
  });
});
