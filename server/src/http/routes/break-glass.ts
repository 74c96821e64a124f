/**
 * Break-glass (`/v1/admin/break-glass…`): the one way an admin reads clinical content. A grant needs a written reason
 * and a duration; while it is current (not expired, not revoked) the admin who holds it may read the case's whole
 * record. Every read, granted or refused, is audited as `break-glass` pointing at the grant; a granted read is on disk
 * in the audit log before anything is disclosed. The reason text stays on the grant (the patient sees it in their
 * access report) and never enters the audit log.
 */
import { isIP } from 'node:net';
import { AuditWriteError } from '../../audit/audit-writer.js';
import {
  BREAK_GLASS_REASON_MAX,
  BREAK_GLASS_REASON_MIN,
  createGrant,
  getGrant,
  revokeGrant,
} from '../../cases/break-glass-grants.js';
import { CaseError } from '../../cases/case-error.js';
import { readCaseRecords, type RecordMessage } from '../../cases/case-records.js';
import { decide } from '../../policy/access-policy.js';
import { loadCaseAccess } from '../../policy/case-access.js';
import { ApiError } from '../api-errors.js';
import { auditRequest, BEARER, type RouteModule } from '../api.js';
import { adminOf, adminOnly, caseOp, CASE_REF_SCHEMA, ERRORS, ID_SCHEMA, iso } from './admin-cases.js';

const TIME = { type: 'string', format: 'date-time' } as const;
const TIME_OR_NULL = { type: ['string', 'null'], format: 'date-time' } as const;

const GRANT = {
  type: 'object',
  additionalProperties: false,
  required: ['grantId', 'caseId', 'grantedAt', 'expiresAt', 'revokedAt'],
  properties: {
    grantId: { type: 'string' },
    caseId: { type: 'string' },
    grantedAt: TIME,
    expiresAt: TIME,
    revokedAt: TIME_OR_NULL,
  },
} as const;

const GRANT_PARAMS = {
  type: 'object',
  required: ['grantId'],
  additionalProperties: false,
  properties: { grantId: ID_SCHEMA },
} as const;

const MESSAGES = {
  type: 'array',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['seq', 'senderId', 'senderRole', 'text', 'sentAt'],
    properties: {
      seq: { type: 'integer' },
      senderId: { type: 'string' },
      senderRole: { type: 'string' },
      text: { type: 'string' },
      sentAt: TIME,
    },
  },
} as const;

const RECORDS = {
  type: 'object',
  additionalProperties: false,
  required: ['grantId', 'caseId', 'expiresAt', 'status', 'openedAt', 'dischargedAt', 'thread', 'appointments', 'notes'],
  properties: {
    grantId: { type: 'string' },
    caseId: { type: 'string' },
    expiresAt: { ...TIME, description: 'When the grant ends.' },
    status: { type: 'string', enum: ['active', 'discharged'] },
    openedAt: TIME,
    dischargedAt: TIME_OR_NULL,
    thread: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['conversationId', 'messages'],
      properties: { conversationId: { type: 'string' }, messages: MESSAGES },
    },
    appointments: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['appointmentId', 'conversationId', 'status', 'scheduledAt', 'startedAt', 'endedAt', 'messages'],
        properties: {
          appointmentId: { type: 'string' },
          conversationId: { type: 'string' },
          status: { type: 'string' },
          scheduledAt: TIME,
          startedAt: TIME_OR_NULL,
          endedAt: TIME_OR_NULL,
          messages: MESSAGES,
        },
      },
    },
    notes: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: [
          'noteId',
          'kind',
          'appointmentId',
          'conversationId',
          'seq',
          'targetNoteId',
          'authorRole',
          'createdAt',
          'text',
        ],
        properties: {
          noteId: { type: 'string' },
          kind: { type: 'string' },
          appointmentId: { type: ['string', 'null'] },
          conversationId: { type: ['string', 'null'] },
          seq: { type: ['integer', 'null'] },
          targetNoteId: { type: ['string', 'null'] },
          authorRole: { type: 'string' },
          createdAt: TIME,
          text: { type: ['string', 'null'], description: '`null` when the note cannot be opened.' },
        },
      },
    },
  },
} as const;

const messagesBody = (ms: readonly RecordMessage[]) => ms.map((m) => ({ ...m, sentAt: iso(m.sentAt) }));

export const breakGlassRoutes: RouteModule = (app, deps) => {
  const db = deps.store.kysely;
  const tags = ['break-glass'];
  const maxMinutes = deps.config.breakGlassMaxMinutes;

  app.post<{ Body: { caseId: string; reason: string; minutes: number } }>(
    '/admin/break-glass',
    {
      ...adminOnly(deps),
      schema: {
        summary: "Take a time-limited break-glass grant on a case's records, with a written reason",
        tags,
        security: BEARER,
        body: {
          type: 'object',
          required: ['caseId', 'reason', 'minutes'],
          additionalProperties: false,
          properties: {
            caseId: CASE_REF_SCHEMA,
            reason: {
              type: 'string',
              minLength: BREAK_GLASS_REASON_MIN,
              maxLength: BREAK_GLASS_REASON_MAX,
              description:
                'Why the records must be opened (a complaint investigation, a legal duty). Shown to the patient in their access report; never in the audit log.',
            },
            minutes: { type: 'integer', minimum: 1, maximum: maxMinutes, description: 'How long the grant lasts.' },
          },
        },
        response: { 201: GRANT, ...ERRORS },
      },
    },
    async (req, reply) => {
      const principal = adminOf(req);
      const grant = await caseOp(() => createGrant(db, { ...req.body, adminId: principal.userId }, deps.now()));
      auditRequest(deps, req, principal, 'admin.change', 'granted', 'break-glass-granted', {
        type: 'grant',
        id: grant.grantId,
      });
      return reply.code(201).send({
        grantId: grant.grantId,
        caseId: grant.caseId,
        grantedAt: iso(grant.grantedAt),
        expiresAt: iso(grant.expiresAt),
        revokedAt: null,
      });
    },
  );

  app.get<{ Params: { grantId: string } }>(
    '/admin/break-glass/:grantId/records',
    {
      ...adminOnly(deps),
      schema: {
        summary: "Read a case's whole record (thread, transcripts, notes) under one's own current grant",
        tags,
        security: BEARER,
        params: GRANT_PARAMS,
        response: { 200: RECORDS, ...ERRORS },
      },
    },
    async (req) => {
      const principal = adminOf(req);
      const { grantId } = req.params;
      const resource = { type: 'grant', id: grantId } as const;
      const grant = await getGrant(db, grantId).catch((err: unknown) => {
        if (err instanceof CaseError) return undefined;
        throw err;
      });
      const access = grant && (await loadCaseAccess(db, grant.caseId));
      if (!grant || !access) {
        auditRequest(deps, req, principal, 'break-glass', 'refused', 'no-such-grant', resource);
        throw new ApiError('NOT_FOUND', `no break-glass grant ${grantId}`);
      }
      const now = deps.now();
      // Decided on this grant alone: another grant of the same admin on the case does not open this one.
      const decision = decide(
        principal,
        'record.break-glass-read',
        {
          case: {
            ...access,
            breakGlass: [{ adminId: grant.adminId, expiresAt: grant.expiresAt, revokedAt: grant.revokedAt }],
          },
        },
        now,
      );
      if (!decision.allow) {
        auditRequest(deps, req, principal, 'break-glass', 'refused', decision.rule, resource);
        const why =
          grant.adminId !== principal.userId
            ? 'this grant is not yours'
            : grant.revokedAt !== null
              ? 'this grant was revoked'
              : now >= grant.expiresAt
                ? 'this grant has expired'
                : decision.reason;
        throw new ApiError('FORBIDDEN', why);
      }
      // On disk before anything is disclosed: an access that cannot be audited does not happen.
      const ua = req.headers['user-agent'];
      try {
        await deps.audit.recordAndWait({
          actor: { userId: principal.userId, role: principal.role },
          action: 'break-glass',
          resource,
          outcome: 'granted',
          reason: decision.rule,
          time: now,
          ip: isIP(req.ip) ? req.ip : null,
          device: typeof ua === 'string' && ua ? ua : null,
        });
      } catch (err) {
        if (err instanceof AuditWriteError)
          throw new ApiError('UNAVAILABLE', 'the audit log cannot record this access now; retry');
        throw err;
      }
      const r = await caseOp(() => readCaseRecords({ store: deps.store, keys: deps.keys }, grant.caseId));
      return {
        grantId,
        caseId: r.caseId,
        expiresAt: iso(grant.expiresAt),
        status: r.status,
        openedAt: iso(r.openedAt),
        dischargedAt: iso(r.dischargedAt),
        thread: r.thread && { conversationId: r.thread.conversationId, messages: messagesBody(r.thread.messages) },
        appointments: r.appointments.map((a) => ({
          ...a,
          scheduledAt: iso(a.scheduledAt),
          startedAt: iso(a.startedAt),
          endedAt: iso(a.endedAt),
          messages: messagesBody(a.messages),
        })),
        notes: r.notes.map((n) => ({ ...n, createdAt: iso(n.createdAt) })),
      };
    },
  );

  app.post<{ Params: { grantId: string } }>(
    '/admin/break-glass/:grantId/revoke',
    {
      ...adminOnly(deps),
      schema: {
        summary: 'End a break-glass grant before its time',
        tags,
        security: BEARER,
        params: GRANT_PARAMS,
        response: { 200: GRANT, ...ERRORS },
      },
    },
    async (req) => {
      const principal = adminOf(req);
      const { grantId } = req.params;
      const g = await caseOp(() => revokeGrant(db, grantId, deps.now()));
      auditRequest(deps, req, principal, 'admin.change', 'granted', 'break-glass-revoked', {
        type: 'grant',
        id: grantId,
      });
      return {
        grantId: g.grantId,
        caseId: g.caseId,
        grantedAt: iso(g.grantedAt),
        expiresAt: iso(g.expiresAt),
        revokedAt: iso(g.revokedAt),
      };
    },
  );
};
