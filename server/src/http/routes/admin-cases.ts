/**
 * The admin API for contracts, cases, assignments, discharge, re-referral and appointments (`/v1/admin/…`). Admins
 * only. Every answer carries ids, case references, statuses and times: never messages, notes or identity fields.
 * Every change is audited as `admin.change` with a fixed reason; changes that end someone's access call
 * `ChatService.accessChanged` so live subscriptions are re-decided at once.
 */
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../../auth/authenticator.js';
import { CaseError } from '../../cases/case-error.js';
import { CONTRACT_MIN_AGES } from '../../cases/age-rule.js';
import {
  cancelAppointment,
  createContract,
  dischargeCase,
  getCaseSummary,
  listContracts,
  openCheckedCase,
  reassignCase,
  scheduleCaseAppointment,
  type CaseSummary,
  type Contract,
} from '../../cases/case-operations.js';
import { ApiError, ERROR_BODY_SCHEMA } from '../api-errors.js';
import { honourDeferredErasures } from '../../rights/data-requests.js';
import { auditRequest, authenticate, BEARER, type ApiDeps, type RouteModule } from '../api.js';

/** Runs a case operation, turning its refusal into the API's error answer. */
export async function caseOp<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof CaseError) throw new ApiError(err.code, err.message);
    throw err;
  }
}

/**
 * Tells every member of the appointments' transcripts, on every node, of a status an admin set (cancelled, or ended by
 * a discharge), as the therapist's own `admit`/`end` does: an `appointment` frame.
 */
async function announceAppointments(
  deps: ApiDeps,
  appointmentIds: readonly string[],
  status: 'cancelled' | 'ended',
): Promise<void> {
  if (appointmentIds.length === 0) return;
  const rows = await deps.store.kysely
    .selectFrom('appointments')
    .select(['id', 'conversation_id'])
    .where('id', 'in', appointmentIds)
    .execute();
  const ts = deps.now();
  for (const r of rows) {
    deps.chat.bus.publish(r.conversation_id, {
      kind: 'appointment',
      conv: r.conversation_id,
      appointmentId: r.id,
      status,
      ts,
    });
  }
}

/** Milliseconds since the epoch as an ISO 8601 UTC timestamp; `null` stays `null`. */
export function iso(ms: number): string;
export function iso(ms: number | null): string | null;
export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export const ID_SCHEMA = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.:-]+$' } as const;
export const CASE_REF_SCHEMA = {
  type: 'string',
  pattern: '^C-[0-9A-Z]{4}-[0-9A-Z]{4}$',
  description: 'A case reference, e.g. `C-7K3M-92QD`.',
} as const;
const TIME = { type: 'string', format: 'date-time' } as const;
const TIME_OR_NULL = { type: ['string', 'null'], format: 'date-time' } as const;
const ID_OR_NULL = { type: ['string', 'null'] } as const;

export const ERRORS = {
  400: ERROR_BODY_SCHEMA,
  401: ERROR_BODY_SCHEMA,
  403: ERROR_BODY_SCHEMA,
  404: ERROR_BODY_SCHEMA,
  409: ERROR_BODY_SCHEMA,
  503: ERROR_BODY_SCHEMA,
} as const;

const CONTRACT = {
  type: 'object',
  required: ['contractId', 'name', 'minAge', 'createdAt'],
  additionalProperties: false,
  properties: {
    contractId: { type: 'string' },
    name: { type: 'string' },
    minAge: { type: 'integer', enum: [...CONTRACT_MIN_AGES] },
    createdAt: TIME,
  },
} as const;

const APPOINTMENT_STATUS = { type: 'string', enum: ['scheduled', 'waiting', 'live', 'ended', 'cancelled'] } as const;

const CASE_SUMMARY = {
  type: 'object',
  additionalProperties: false,
  required: [
    'caseId',
    'threadId',
    'status',
    'patientId',
    'therapistId',
    'supervisorId',
    'contractId',
    'previousCaseId',
    'laterCaseIds',
    'openedAt',
    'dischargedAt',
    'referralVerifiedAt',
    'guardianConsentAt',
    'restrictedAt',
    'shreddedAt',
    'appointments',
  ],
  properties: {
    caseId: { type: 'string' },
    threadId: { type: 'string', description: "The conversation id of the case's inter-session message thread." },
    status: { type: 'string', enum: ['active', 'discharged'] },
    patientId: { type: 'string' },
    therapistId: { type: 'string' },
    supervisorId: ID_OR_NULL,
    contractId: { type: 'string' },
    previousCaseId: { ...ID_OR_NULL, description: 'Re-referral: the earlier case of the same patient.' },
    laterCaseIds: { type: 'array', items: { type: 'string' }, description: 'Cases re-referred from this one.' },
    openedAt: TIME,
    dischargedAt: TIME_OR_NULL,
    referralVerifiedAt: TIME_OR_NULL,
    guardianConsentAt: TIME_OR_NULL,
    restrictedAt: TIME_OR_NULL,
    shreddedAt: TIME_OR_NULL,
    appointments: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['appointmentId', 'conversationId', 'status', 'scheduledAt', 'startedAt', 'endedAt'],
        properties: {
          appointmentId: { type: 'string' },
          conversationId: { type: 'string' },
          status: APPOINTMENT_STATUS,
          scheduledAt: TIME,
          startedAt: TIME_OR_NULL,
          endedAt: TIME_OR_NULL,
        },
      },
    },
  },
} as const;

const CASE_PARAMS = {
  type: 'object',
  required: ['caseId'],
  additionalProperties: false,
  properties: { caseId: CASE_REF_SCHEMA },
} as const;

const contractBody = (c: Contract) => ({ ...c, createdAt: iso(c.createdAt) });

const summaryBody = (s: CaseSummary) => ({
  ...s,
  openedAt: iso(s.openedAt),
  dischargedAt: iso(s.dischargedAt),
  referralVerifiedAt: iso(s.referralVerifiedAt),
  guardianConsentAt: iso(s.guardianConsentAt),
  restrictedAt: iso(s.restrictedAt),
  shreddedAt: iso(s.shreddedAt),
  appointments: s.appointments.map((a) => ({
    ...a,
    scheduledAt: iso(a.scheduledAt),
    startedAt: iso(a.startedAt),
    endedAt: iso(a.endedAt),
  })),
});

const principals = new WeakMap<FastifyRequest, Principal>();

/**
 * Route options that authenticate an admin before anything else (so a caller who is not one learns nothing, not even
 * whether their body was valid); the handler reads the caller with `adminOf(req)`.
 */
export function adminOnly(deps: ApiDeps) {
  return {
    onRequest: async (req: FastifyRequest) => {
      principals.set(req, await authenticate(deps, req, ['admin']));
    },
  };
}

export function adminOf(req: FastifyRequest): Principal {
  const p = principals.get(req);
  if (!p) throw new Error('adminOf: the route lacks adminOnly()');
  return p;
}

export const adminCaseRoutes: RouteModule = (app, deps) => {
  const db = deps.store.kysely;
  const tags = ['admin'];

  app.post<{ Body: { name: string; minAge: number } }>(
    '/admin/contracts',
    {
      ...adminOnly(deps),
      schema: {
        summary: 'Create a contract with its minimum age (12, 16 or 18)',
        tags,
        security: BEARER,
        body: {
          type: 'object',
          required: ['name', 'minAge'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            minAge: { type: 'integer', enum: [...CONTRACT_MIN_AGES] },
          },
        },
        response: { 201: CONTRACT, ...ERRORS },
      },
    },
    async (req, reply) => {
      const principal = adminOf(req);
      const contract = await createContract(db, req.body, deps.now());
      auditRequest(deps, req, principal, 'admin.change', 'granted', 'contract-created');
      return reply.code(201).send(contractBody(contract));
    },
  );

  app.get(
    '/admin/contracts',
    {
      ...adminOnly(deps),
      schema: {
        summary: 'List the contracts (`default`: minimum age 18)',
        tags,
        security: BEARER,
        response: {
          200: {
            type: 'object',
            required: ['contracts'],
            additionalProperties: false,
            properties: { contracts: { type: 'array', items: CONTRACT } },
          },
          ...ERRORS,
        },
      },
    },
    async () => ({ contracts: (await listContracts(db)).map(contractBody) }),
  );

  app.post<{
    Body: {
      patientId: string;
      therapistId: string;
      supervisorId: string;
      contractId?: string;
      previousCaseId?: string;
      referralVerified?: boolean;
      guardianConsent?: boolean;
    };
  }>(
    '/admin/cases',
    {
      ...adminOnly(deps),
      schema: {
        summary: 'Open a case (or re-refer a former patient), checking roles, contract and age rules',
        tags,
        security: BEARER,
        body: {
          type: 'object',
          required: ['patientId', 'therapistId', 'supervisorId'],
          additionalProperties: false,
          properties: {
            patientId: ID_SCHEMA,
            therapistId: ID_SCHEMA,
            supervisorId: ID_SCHEMA,
            contractId: { ...ID_SCHEMA, description: 'Default: `default` (minimum age 18).' },
            previousCaseId: { ...CASE_REF_SCHEMA, description: 'Re-referral: the earlier, discharged case.' },
            referralVerified: { type: 'boolean', description: 'The referral was verified (required under 16).' },
            guardianConsent: { type: 'boolean', description: 'Guardian consent was recorded (required under 16).' },
          },
        },
        response: {
          201: {
            type: 'object',
            required: ['caseId', 'threadId', 'status'],
            additionalProperties: false,
            properties: {
              caseId: { type: 'string' },
              threadId: { type: 'string' },
              status: { type: 'string', enum: ['active'] },
            },
          },
          422: ERROR_BODY_SCHEMA,
          ...ERRORS,
        },
      },
    },
    async (req, reply) => {
      const principal = adminOf(req);
      const opened = await caseOp(() =>
        openCheckedCase({ store: deps.store, keys: deps.keys, keyProvider: deps.keyProvider }, req.body, deps.now()),
      );
      auditRequest(deps, req, principal, 'admin.change', 'granted', 'case-opened', { type: 'case', id: opened.caseId });
      return reply.code(201).send(opened);
    },
  );

  app.get<{ Params: { caseId: string } }>(
    '/admin/cases/:caseId',
    {
      ...adminOnly(deps),
      schema: {
        summary: 'A case: people, status, dates and appointments (no messages, no notes)',
        tags,
        security: BEARER,
        params: CASE_PARAMS,
        response: { 200: CASE_SUMMARY, ...ERRORS },
      },
    },
    async (req) => {
      return summaryBody(await caseOp(() => getCaseSummary(db, req.params.caseId)));
    },
  );

  app.post<{ Params: { caseId: string }; Body: { therapistId?: string; supervisorId?: string } }>(
    '/admin/cases/:caseId/assign',
    {
      ...adminOnly(deps),
      schema: {
        summary: "Reassign an active case's therapist and/or supervisor; the previous one's access ends at once",
        tags,
        security: BEARER,
        params: CASE_PARAMS,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { therapistId: ID_SCHEMA, supervisorId: ID_SCHEMA },
        },
        response: { 200: CASE_SUMMARY, ...ERRORS },
      },
    },
    async (req) => {
      const principal = adminOf(req);
      const { caseId } = req.params;
      await caseOp(() => reassignCase(db, caseId, req.body));
      deps.chat.accessChanged(caseId);
      auditRequest(deps, req, principal, 'admin.change', 'granted', 'case-reassigned', { type: 'case', id: caseId });
      return summaryBody(await caseOp(() => getCaseSummary(db, caseId)));
    },
  );

  app.post<{ Params: { caseId: string } }>(
    '/admin/cases/:caseId/discharge',
    {
      ...adminOnly(deps),
      schema: {
        summary: 'Discharge an active case: appointments not started are cancelled, a live one ended',
        tags,
        security: BEARER,
        params: CASE_PARAMS,
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            required: ['caseId', 'status', 'dischargedAt', 'cancelledAppointments', 'endedAppointments'],
            properties: {
              caseId: { type: 'string' },
              status: { type: 'string', enum: ['discharged'] },
              dischargedAt: TIME,
              cancelledAppointments: { type: 'integer' },
              endedAppointments: { type: 'integer' },
            },
          },
          ...ERRORS,
        },
      },
    },
    async (req) => {
      const principal = adminOf(req);
      const { caseId } = req.params;
      const d = await caseOp(() => dischargeCase(db, caseId, deps.now()));
      deps.chat.accessChanged(caseId);
      await announceAppointments(deps, d.cancelled, 'cancelled');
      await announceAppointments(deps, d.ended, 'ended');
      auditRequest(deps, req, principal, 'admin.change', 'granted', 'case-discharged', { type: 'case', id: caseId });
      // An identity erasure the patient asked for while in care is carried out once no case of theirs is active.
      const patient = await db.selectFrom('cases').select('patient_id').where('id', '=', caseId).executeTakeFirst();
      if (patient) {
        for (const r of await honourDeferredErasures(db, patient.patient_id, deps.now())) {
          auditRequest(deps, req, 'system', 'record.request', 'granted', `${r.kind}.${r.scope}.honoured`, {
            type: 'user',
            id: patient.patient_id,
          });
        }
      }
      for (const [ids, status] of [
        [d.cancelled, 'cancelled'],
        [d.ended, 'ended'],
      ] as const) {
        for (const id of ids) {
          auditRequest(deps, req, principal, 'appointment.change', 'granted', status, { type: 'appointment', id });
        }
      }
      return {
        caseId,
        status: 'discharged',
        dischargedAt: iso(d.dischargedAt),
        cancelledAppointments: d.cancelled.length,
        endedAppointments: d.ended.length,
      };
    },
  );

  app.post<{ Body: { caseId: string; scheduledAt: string } }>(
    '/admin/appointments',
    {
      ...adminOnly(deps),
      schema: {
        summary: 'Schedule an appointment of an active case',
        tags,
        security: BEARER,
        body: {
          type: 'object',
          required: ['caseId', 'scheduledAt'],
          additionalProperties: false,
          properties: { caseId: CASE_REF_SCHEMA, scheduledAt: TIME },
        },
        response: {
          201: {
            type: 'object',
            additionalProperties: false,
            required: ['appointmentId', 'conversationId', 'caseId', 'status', 'scheduledAt'],
            properties: {
              appointmentId: { type: 'string' },
              conversationId: { type: 'string', description: "The appointment's transcript." },
              caseId: { type: 'string' },
              status: { type: 'string', enum: ['scheduled'] },
              scheduledAt: TIME,
            },
          },
          ...ERRORS,
        },
      },
    },
    async (req, reply) => {
      const principal = adminOf(req);
      const scheduledAt = Date.parse(req.body.scheduledAt);
      if (!Number.isFinite(scheduledAt)) throw new ApiError('VALIDATION_FAILED', 'scheduledAt is not a valid time');
      const a = await caseOp(() => scheduleCaseAppointment(deps.store, req.body.caseId, scheduledAt));
      auditRequest(deps, req, principal, 'admin.change', 'granted', 'appointment-scheduled', {
        type: 'appointment',
        id: a.appointmentId,
      });
      return reply
        .code(201)
        .send({ ...a, caseId: req.body.caseId, status: 'scheduled', scheduledAt: iso(scheduledAt) });
    },
  );

  app.post<{ Params: { appointmentId: string } }>(
    '/admin/appointments/:appointmentId/cancel',
    {
      ...adminOnly(deps),
      schema: {
        summary: 'Cancel an appointment that has not started (scheduled or waiting)',
        tags,
        security: BEARER,
        params: {
          type: 'object',
          required: ['appointmentId'],
          additionalProperties: false,
          properties: { appointmentId: ID_SCHEMA },
        },
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            required: ['appointmentId', 'caseId', 'status'],
            properties: {
              appointmentId: { type: 'string' },
              caseId: { type: 'string' },
              status: { type: 'string', enum: ['cancelled'] },
            },
          },
          ...ERRORS,
        },
      },
    },
    async (req) => {
      const principal = adminOf(req);
      const { appointmentId } = req.params;
      const { caseId } = await caseOp(() => cancelAppointment(db, appointmentId));
      deps.chat.accessChanged(caseId);
      await announceAppointments(deps, [appointmentId], 'cancelled');
      auditRequest(deps, req, principal, 'admin.change', 'granted', 'appointment-cancelled', {
        type: 'appointment',
        id: appointmentId,
      });
      auditRequest(deps, req, principal, 'appointment.change', 'granted', 'cancelled', {
        type: 'appointment',
        id: appointmentId,
      });
      return { appointmentId, caseId, status: 'cancelled' };
    },
  );
};
