/** The chat path writes the audit trail: who joined, read, was refused or flagged, from where; never the text. */
import { afterEach, describe, expect, it } from 'vitest';
import { SqlAuditSink } from '../src/audit/sql-audit-sink.js';
import { createUser, openCase, scheduleAppointment } from '../src/domain/care-setup.js';
import { mintToken, startServer, type TestServer } from './helpers/harness.js';
import { TestClient } from './helpers/test-client.js';

let ts: TestServer | undefined;
afterEach(async () => {
  await ts?.stop();
  ts = undefined;
});

describe('audit trail of the chat path', () => {
  it('records logins, joins granted and refused, history reads and risk flags, in a chain that verifies', async () => {
    ts = await startServer();
    const s = await ts.seed();
    // Another case, whose conversation the patient must not join.
    const otherTherapist = await createUser(ts.server.store, 'therapist');
    const otherPatient = await createUser(ts.server.store, 'patient');
    const other = await openCase(ts.server.store, ts.server.keys, {
      patientId: otherPatient,
      therapistId: otherTherapist,
    });
    const { conversationId: otherConv } = await scheduleAppointment(ts.server.store, other.caseId, { status: 'live' });

    const patient = await TestClient.connect(ts.url);
    await patient.auth(s.patientToken);
    await patient.join(s.conv);
    expect(await patient.join(otherConv)).toMatchObject({ code: 'FORBIDDEN' });
    await patient.sendText(s.conv, 'I want to die, sometimes');
    await patient.request({ type: 'history', conv: s.conv });
    const stranger = await TestClient.connect(ts.url);
    await stranger.auth(await mintToken(ts.dataDir, s.patientId, 'patient', { issuer: 'someone-else' }));
    await patient.close();
    await stranger.close().catch(() => undefined);
    await ts.server.audit.flush();

    const sink = SqlAuditSink.sqlite({ dataDir: ts.dataDir, readonly: true });
    try {
      const events = await sink.read(1, 100);
      const summary = events.map((e) => [e.action, e.outcome, e.reason, e.resource?.id ?? null]);
      expect(summary).toEqual(
        expect.arrayContaining([
          ['auth.login', 'granted', 'token', null],
          ['conversation.join', 'granted', 'patient-own-case', s.conv],
          ['conversation.join.refused', 'refused', 'not-own-case', otherConv],
          ['risk.flagged', 'granted', expect.stringMatching(/^suicide\.[a-z-]+@phrase-list@/), s.conv],
          ['history.read', 'granted', expect.stringMatching(/-messages$/), s.conv],
          ['auth.refused', 'refused', 'invalid-token', null],
        ]),
      );
      const login = events.find((e) => e.action === 'auth.login')!;
      expect(login).toMatchObject({
        actor: { userId: s.patientId, role: 'patient' },
        ip: expect.stringMatching(/127\.0\.0\.1/),
      });
      expect(JSON.stringify(events)).not.toMatch(/want to die/);
      expect(await sink.verify()).toMatchObject({ ok: true, count: events.length });
    } finally {
      await sink.close();
    }
  });
});
