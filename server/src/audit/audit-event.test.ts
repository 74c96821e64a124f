import { describe, expect, it } from 'vitest';
import { AuditEventError, cleanDevice, isWellFormedRecord, MAX_DEVICE_CHARS, toAuditContent } from './audit-event.js';
import { chainAuditContents, GENESIS_HASH } from './audit-chain.js';
import { auditEvent } from './audit-sink.contract.js';

describe('audit events', () => {
  it('flattens actors and optional fields to stored columns', () => {
    expect(toAuditContent(auditEvent(1))).toMatchObject({
      actorId: 'u_1',
      actorRole: 'therapist',
      resourceType: 'conversation',
    });
    expect(toAuditContent({ actor: 'system', action: 'admin.change', outcome: 'granted', time: 5 })).toEqual({
      time: 5,
      actorId: null,
      actorRole: 'system',
      action: 'admin.change',
      resourceType: null,
      resourceId: null,
      outcome: 'granted',
      reason: null,
      ip: null,
      device: null,
    });
  });

  it('keeps sentences, identity and secrets out: reasons are codes, ids are ids', () => {
    const refused = [
      { reason: 'Patient disclosed self harm' },
      { reason: 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0.sig' },
      { reason: 'Jane.Doe@example.org' },
      { reason: 'a'.repeat(97) },
      { resource: { type: 'case' as const, id: 'Jane Doe' } },
      { actor: { userId: 'jane@example.org', role: 'patient' as const } },
      { ip: '10.0.0.1, 10.0.0.2' },
      { time: -1 },
      { device: 42 as unknown as string },
    ];
    for (const over of refused)
      expect(() => toAuditContent(auditEvent(1, over)), JSON.stringify(over)).toThrow(AuditEventError);
    expect(toAuditContent(auditEvent(1, { reason: 'suicide.intent@phrase-list@2025-01-15' })).reason).toBe(
      'suicide.intent@phrase-list@2025-01-15',
    );
  });

  it('cleans a User-Agent: controls and lone surrogates replaced, long ones cut without splitting a pair', () => {
    expect(cleanDevice('a\u0000b\u001bc\u007f')).toBe('a\uFFFDb\uFFFDc\uFFFD');
    expect(cleanDevice('x\uD800y\uDC00')).toBe('x\uFFFDy\uFFFD');
    expect(cleanDevice('')).toBeNull();
    const cut = cleanDevice('a'.repeat(MAX_DEVICE_CHARS - 1) + '🧠🧠');
    expect(cut).toBe('a'.repeat(MAX_DEVICE_CHARS - 1));
  });

  it('tells a stored record a sink could have written from one it could not', () => {
    const [r] = chainAuditContents({ seq: 0, hash: GENESIS_HASH }, [toAuditContent(auditEvent(1))]);
    expect(isWellFormedRecord(r!)).toBe(true);
    expect(isWellFormedRecord({ ...r!, actorRole: 'root' })).toBe(false);
    expect(isWellFormedRecord({ ...r!, actorRole: 'system' })).toBe(false); // a system actor has no user id
    expect(isWellFormedRecord({ ...r!, resourceId: null })).toBe(false);
    expect(isWellFormedRecord({ ...r!, time: '1' as unknown as number })).toBe(false);
    expect(isWellFormedRecord({ ...r!, device: 'a\nb' })).toBe(false);
  });
});
