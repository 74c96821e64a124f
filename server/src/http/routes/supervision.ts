/**
 * The supervisor's read-only, pseudonymised view (DESIGN §2, docs/api.md "Supervision"): the cases they supervise,
 * and a case's transcripts with speakers only as `patient` / `therapist`. Policy action `case.supervise` on every
 * case; audited `supervision.read`. There are no write routes here.
 */
import { Readable } from 'node:stream';
import { decide } from '../../policy/access-policy.js';
import { loadCaseAccess } from '../../policy/case-access.js';
import { appointmentsOf, caseById, casesOfSupervisor } from '../../rights/record-queries.js';
import { appointmentView, caseHeader, supervisedTranscripts } from '../../supervision/supervision-view.js';
import { ApiError, ERROR_BODY_SCHEMA } from '../api-errors.js';
import { auditRequest, authenticate, authorize, BEARER, type RouteModule } from '../api.js';
import { requireAuditLog } from './patient-rights.js';

const TAG = 'supervision';
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ERROR_BODY_SCHEMA]));
const NULLABLE_STRING = { type: ['string', 'null'] } as const;

const APPOINTMENT_SCHEMA = {
  type: 'object',
  required: ['appointmentId', 'status', 'scheduledAt', 'startedAt', 'endedAt'],
  properties: {
    appointmentId: { type: 'string' },
    status: { type: 'string' },
    scheduledAt: { type: 'string', format: 'date-time' },
    startedAt: NULLABLE_STRING,
    endedAt: NULLABLE_STRING,
  },
} as const;

const SUPERVISED_CASE_SCHEMA = {
  type: 'object',
  required: ['ref', 'status', 'openedAt', 'dischargedAt', 'therapist', 'access', 'appointments'],
  properties: {
    ref: { type: 'string' },
    status: { type: 'string' },
    openedAt: { type: 'string', format: 'date-time' },
    dischargedAt: NULLABLE_STRING,
    therapist: { type: 'string', description: "The case's therapist as a pseudonymous label, stable for you." },
    access: {
      type: 'string',
      description: '`granted`, or the policy rule that withholds it (`processing-restricted`, `retention-ended`).',
    },
    appointments: { type: 'array', items: APPOINTMENT_SCHEMA, description: 'Empty when access is withheld.' },
  },
} as const;

export const supervisionRoutes: RouteModule = (app, deps) => {
  app.get(
    '/supervision/cases',
    {
      schema: {
        tags: [TAG],
        summary: 'The cases you supervise',
        description:
          'Each case by its reference, with its status, its therapist as a label and its appointments. A case ' +
          'whose patient restricted processing is listed without its appointments.',
        security: BEARER,
        response: {
          200: {
            type: 'object',
            required: ['cases'],
            properties: { cases: { type: 'array', items: SUPERVISED_CASE_SCHEMA } },
          },
          ...errors(401, 403, 503),
        },
      },
    },
    async (req) => {
      const principal = await authenticate(deps, req, ['supervisor']);
      requireAuditLog(deps);
      const db = deps.store.kysely;
      const cases = [];
      for (const row of await casesOfSupervisor(db, principal.userId)) {
        const access = await loadCaseAccess(db, row.id);
        if (!access) continue;
        const decision = decide(principal, 'case.supervise', { case: access }, deps.now());
        auditRequest(
          deps,
          req,
          principal,
          decision.allow ? 'supervision.read' : 'access.refused',
          decision.allow ? 'granted' : 'refused',
          decision.allow ? 'case-list' : decision.rule,
          { type: 'case', id: row.id },
        );
        cases.push({
          ...caseHeader(principal.userId, row),
          access: decision.allow ? 'granted' : decision.rule,
          appointments: decision.allow ? (await appointmentsOf(db, row.id)).map(appointmentView) : [],
        });
      }
      return { cases };
    },
  );

  app.get<{ Params: { caseId: string } }>(
    '/supervision/cases/:caseId/transcripts',
    {
      schema: {
        tags: [TAG],
        summary: "A supervised case's transcripts, pseudonymised",
        description:
          "The case's message thread and every appointment's transcript, speakers shown only as `patient` and " +
          "`therapist`, with the patient's correction notes. No user ids, no identity fields. Read-only.",
        security: BEARER,
        params: {
          type: 'object',
          additionalProperties: false,
          required: ['caseId'],
          properties: { caseId: { type: 'string', minLength: 1, maxLength: 64 } },
        },
        response: {
          200: {
            description: 'The pseudonymised transcripts (docs/api.md "Supervision").',
            content: { 'application/json': { schema: { type: 'object' } } },
          },
          ...errors(400, 401, 403, 404, 503),
        },
      },
    },
    async (req, reply) => {
      const principal = await authenticate(deps, req, ['supervisor']);
      requireAuditLog(deps);
      const db = deps.store.kysely;
      const [row, access] = await Promise.all([caseById(db, req.params.caseId), loadCaseAccess(db, req.params.caseId)]);
      if (!row || !access) throw new ApiError('NOT_FOUND', `no case ${req.params.caseId}`);
      authorize(deps, req, principal, 'case.supervise', access, { action: 'supervision.read' });
      await deps.keys.ensure(row.id);
      const stream = Readable.from(supervisedTranscripts(deps, principal.userId, row), { objectMode: false });
      stream.on('error', (err) => req.log.error({ err }, 'supervision transcripts failed part-way'));
      return reply.header('cache-control', 'no-store').type('application/json; charset=utf-8').send(stream);
    },
  );
};
