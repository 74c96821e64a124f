/**
 * The patient's access report (DESIGN §2): who touched their records, when, and with what outcome, read from the
 * audit log by resource — their cases, those cases' conversations, appointments, notes and break-glass grants, and
 * their own account. Staff appear by role and a pseudonymous label, stable within this patient's reports (the same
 * person always has the same label) and unlinkable across patients; never by id or name. Break-glass accesses carry
 * the grant's written reason and its expiry; every grant on their cases is listed, used or not.
 */
import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AuditEvent, AuditResource, AuditSink } from '../audit/audit-sink.js';
import type { Database } from '../store/schema.js';
import { casesOfPatient, grantsOnCases, recordPartsOfCases } from './record-queries.js';
import { iso, isoOrNull } from './transcript-pages.js';

/** Most events in one page of the report. */
export const ACCESS_REPORT_MAX_PAGE = 500;
/** A page scans at most this many pages of matching events to fill itself (when the patient's own are left out). */
const MAX_SCANS = 10;

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** `therapist-7K3M9Q`: the same for the same person in this patient's reports, and telling nothing else. */
export function pseudonym(scope: string, role: string, userId: string): string {
  const digest = createHash('sha256').update(`therapy-chat/pseudonym\u0000${scope}\u0000${userId}`).digest();
  let s = '';
  for (let i = 0; i < 6; i++) s += ALPHABET[digest[i]! % 32];
  return `${role}-${s}`;
}

export interface AccessReportOptions {
  /** Start at this audit seq (the `next` of the previous page); default 1. */
  readonly from?: number;
  /** Most events in the page; at most `ACCESS_REPORT_MAX_PAGE`. */
  readonly limit: number;
  /** Include the patient's own actions (their joins, reads, exports); default false. */
  readonly includeOwn?: boolean;
}

export async function accessReport(
  db: Kysely<Database>,
  sink: AuditSink,
  patientId: string,
  options: AccessReportOptions,
) {
  const limit = Math.max(1, Math.min(ACCESS_REPORT_MAX_PAGE, options.limit));
  const cases = await casesOfPatient(db, patientId);
  const caseIds = cases.map((c) => c.id);
  const parts = await recordPartsOfCases(db, caseIds);
  const grants = await grantsOnCases(db, caseIds);
  const caseOf = new Map<string, string>();
  const resources: AuditResource[] = [{ type: 'user', id: patientId }];
  for (const c of cases) {
    caseOf.set(`case:${c.id}`, c.id);
    resources.push({ type: 'case', id: c.id });
  }
  for (const p of parts) {
    caseOf.set(`${p.type}:${p.id}`, p.caseId);
    resources.push({ type: p.type, id: p.id });
  }
  const caseRows = new Map(cases.map((c) => [c.id, c]));
  const grantById = new Map(grants.map((g) => [g.id, g]));
  const label = (role: string, userId: string) => pseudonym(patientId, role, userId);

  const actorView = (e: AuditEvent, caseId: string | null) => {
    if (typeof e.actor === 'string') return { role: e.actor, label: null, relation: e.actor };
    const c = caseId === null ? undefined : caseRows.get(caseId);
    const relation =
      e.actor.userId === patientId
        ? 'you'
        : c?.therapist_id === e.actor.userId
          ? 'therapist-of-case'
          : c?.supervisor_id === e.actor.userId
            ? 'supervisor-of-case'
            : 'other';
    return {
      role: e.actor.role,
      label: e.actor.userId === patientId ? null : label(e.actor.role, e.actor.userId),
      relation,
    };
  };

  const grantView = (g: (typeof grants)[number]) => ({
    grantId: g.id,
    caseRef: g.case_id,
    admin: { role: 'admin', label: label('admin', g.admin_id) },
    reason: g.reason,
    grantedAt: iso(g.granted_at),
    expiresAt: iso(g.expires_at),
    revokedAt: isoOrNull(g.revoked_at),
  });

  const events = [];
  let from = Math.max(1, options.from ?? 1);
  let next: number | null = from;
  for (let scan = 0; scan < MAX_SCANS && events.length < limit && next !== null; scan++) {
    const page = await sink.readByResources(resources, from, limit - events.length);
    next = page.length < limit - events.length ? null : page.at(-1)!.seq + 1;
    for (const e of page) {
      if (!options.includeOwn && typeof e.actor !== 'string' && e.actor.userId === patientId) continue;
      const caseId = e.resource ? (caseOf.get(`${e.resource.type}:${e.resource.id}`) ?? null) : null;
      const grant = e.resource?.type === 'grant' ? grantById.get(e.resource.id) : undefined;
      events.push({
        seq: e.seq,
        time: iso(e.time),
        actor: actorView(e, caseId),
        action: e.action,
        outcome: e.outcome,
        rule: e.reason,
        record: e.resource ? { type: e.resource.type, id: e.resource.id, caseRef: caseId } : null,
        ...(grant && { breakGlass: grantView(grant) }),
      });
    }
    if (next !== null) from = next;
  }
  return { events, next, breakGlassGrants: grants.map(grantView) };
}
