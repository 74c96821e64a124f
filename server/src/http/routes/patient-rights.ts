/**
 * The patient's data rights (DESIGN §2, docs/api.md "Patient data rights"): export the whole record, dispute a fact
 * with a correction note, ask for erasure or restriction, and see who accessed the record. Every route decides
 * through the access policy on each case it touches and is audited.
 */
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../../auth/authenticator.js';
import { decide, type CaseAccess } from '../../policy/access-policy.js';
import { loadCaseAccess } from '../../policy/case-access.js';
import { accessReport, ACCESS_REPORT_MAX_PAGE } from '../../rights/access-report.js';
import { appendCorrection, CORRECTION_MAX_CHARS, correctionView, listCorrections } from '../../rights/corrections.js';
import {
  fileDataRequest,
  honourDeferredErasures,
  REQUEST_KINDS,
  REQUEST_SCOPES,
  requestView,
  type RequestKind,
  type RequestScope,
} from '../../rights/data-requests.js';
import { exportHtml, exportJson, planExport } from '../../rights/record-export.js';
import { casesOfPatient, dataRequestsOf } from '../../rights/record-queries.js';
import { iso } from '../../rights/transcript-pages.js';
import { ApiError, ERROR_BODY_SCHEMA } from '../api-errors.js';
import { auditRequest, authenticate, authorize, BEARER, type ApiDeps, type RouteModule } from '../api.js';

const TAG = 'patient data rights';
/** Longest wait for the audit events an action must not run ahead of (an export, a request). */
const AUDIT_WAIT_MS = 5000;
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ERROR_BODY_SCHEMA]));
const NULLABLE_STRING = { type: ['string', 'null'] } as const;
const CASE_REF = { type: 'string', minLength: 1, maxLength: 64 } as const;
const ID = { type: 'string', minLength: 1, maxLength: 128 } as const;

const DISPUTES_SCHEMA = {
  description:
    'What the correction disputes: a message ({conversationId, seq}), a whole conversation ' +
    '({conversationId, seq: null}), a note ({noteId}), or the case as a whole (null).',
  oneOf: [
    { type: 'null' },
    {
      type: 'object',
      required: ['conversationId', 'seq'],
      properties: { conversationId: { type: 'string' }, seq: { type: ['integer', 'null'] } },
    },
    { type: 'object', required: ['noteId'], properties: { noteId: { type: 'string' } } },
  ],
} as const;

const CORRECTION_SCHEMA = {
  type: 'object',
  required: ['id', 'caseRef', 'disputes', 'author', 'writtenAt', 'text'],
  properties: {
    id: { type: 'string' },
    caseRef: { type: 'string' },
    disputes: DISPUTES_SCHEMA,
    author: { type: 'string', description: 'The author by role (`patient`).' },
    writtenAt: { type: 'string', format: 'date-time' },
    text: { type: 'string' },
  },
} as const;

const REQUEST_SCHEMA = {
  type: 'object',
  required: ['id', 'kind', 'scope', 'caseRef', 'status', 'outcome', 'requestedAt', 'resolvedAt'],
  properties: {
    id: { type: 'string' },
    kind: { type: 'string', enum: REQUEST_KINDS },
    scope: { type: 'string', enum: REQUEST_SCOPES },
    caseRef: NULLABLE_STRING,
    status: { type: 'string', enum: ['recorded', 'honoured', 'restricted'] },
    outcome: NULLABLE_STRING,
    requestedAt: { type: 'string', format: 'date-time' },
    resolvedAt: NULLABLE_STRING,
  },
} as const;

const GRANT_SCHEMA = {
  type: 'object',
  required: ['grantId', 'caseRef', 'admin', 'reason', 'grantedAt', 'expiresAt', 'revokedAt'],
  properties: {
    grantId: { type: 'string' },
    caseRef: { type: 'string' },
    admin: { type: 'object', properties: { role: { type: 'string' }, label: { type: 'string' } } },
    reason: { type: 'string', description: "The admin's written reason for break-glass access." },
    grantedAt: { type: 'string', format: 'date-time' },
    expiresAt: { type: 'string', format: 'date-time' },
    revokedAt: NULLABLE_STRING,
  },
} as const;

const ACCESS_EVENT_SCHEMA = {
  type: 'object',
  required: ['seq', 'time', 'actor', 'action', 'outcome', 'rule', 'record'],
  properties: {
    seq: { type: 'integer' },
    time: { type: 'string', format: 'date-time' },
    actor: {
      type: 'object',
      properties: {
        role: { type: 'string' },
        label: { ...NULLABLE_STRING, description: 'A pseudonymous label, stable within your reports.' },
        relation: {
          type: 'string',
          description: '`you`, `therapist-of-case`, `supervisor-of-case`, `other`, `system` or `anonymous`.',
        },
      },
    },
    action: { type: 'string' },
    outcome: { type: 'string', enum: ['granted', 'refused', 'error'] },
    rule: NULLABLE_STRING,
    record: {
      type: ['object', 'null'],
      properties: { type: { type: 'string' }, id: { type: 'string' }, caseRef: NULLABLE_STRING },
    },
    breakGlass: GRANT_SCHEMA,
  },
} as const;

async function caseAccess(deps: ApiDeps, caseId: string): Promise<CaseAccess> {
  const access = await loadCaseAccess(deps.store.kysely, caseId);
  if (!access) throw new ApiError('NOT_FOUND', `no case ${caseId}`);
  return access;
}

/** Carries out the caller's identity erasures that waited for their cases to end, and audits each. */
async function honourDeferred(deps: ApiDeps, req: FastifyRequest, principal: Principal): Promise<void> {
  for (const r of await honourDeferredErasures(deps.store.kysely, principal.userId, deps.now())) {
    auditRequest(deps, req, principal, 'record.request', 'granted', `${r.kind}.${r.scope}.honoured`, {
      type: 'user',
      id: principal.userId,
    });
  }
}

/** Refuses with UNAVAILABLE while the audit log cannot take events: what cannot be audited is not disclosed. */
export function requireAuditLog(deps: ApiDeps): void {
  if (!deps.audit.healthy) throw new ApiError('UNAVAILABLE', 'the audit log is unavailable now; retry');
}

/** Waits until the events recorded so far are written; refuses when the audit log cannot take them. */
async function auditWritten(deps: ApiDeps): Promise<void> {
  const unavailable = () => new ApiError('UNAVAILABLE', 'the audit log is unavailable now; retry');
  if (!deps.audit.healthy) throw unavailable();
  // A failing log retries forever and `flush` waits with it: give up as soon as the writer says it is failing.
  let written = false;
  const flushed = deps.audit.flush().then(() => (written = true));
  const until = Date.now() + AUDIT_WAIT_MS;
  while (!written && deps.audit.healthy && Date.now() < until) {
    await Promise.race([flushed, new Promise((r) => setTimeout(r, 10))]);
  }
  if (!written || !deps.audit.healthy) throw unavailable();
}

async function sendExport(
  deps: ApiDeps,
  req: FastifyRequest,
  reply: FastifyReply,
  principal: Principal,
  format: string,
) {
  const now = deps.now();
  const rows = await casesOfPatient(deps.store.kysely, principal.userId);
  const cases = [];
  for (const row of rows) {
    const access = await caseAccess(deps, row.id);
    const decision = decide(principal, 'record.export', { case: access }, now);
    auditRequest(
      deps,
      req,
      principal,
      decision.allow ? 'export' : 'access.refused',
      decision.allow ? 'granted' : 'refused',
      decision.allow ? `${decision.rule}.${format}` : decision.rule,
      { type: 'case', id: row.id },
    );
    cases.push({ row, readable: decision.allow });
  }
  // The identity fields go out with every export, cases or none.
  auditRequest(deps, req, principal, 'export', 'granted', `identity.${format}`, { type: 'user', id: principal.userId });
  // An export is acted on only once it is on record.
  await auditWritten(deps);
  const exportDeps = { store: deps.store, keys: deps.keys, keyProvider: deps.keyProvider };
  const plan = await planExport(exportDeps, principal.userId, cases, now);
  const chunks = format === 'html' ? exportHtml(exportDeps, plan) : exportJson(exportDeps, plan);
  const stream = Readable.from(chunks, { objectMode: false });
  stream.on('error', (err) => req.log.error({ err }, 'export failed part-way; the download is cut short'));
  const day = iso(now).slice(0, 10);
  return reply
    .header('content-disposition', `attachment; filename="therapy-record-${day}.${format}"`)
    .header('cache-control', 'no-store')
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
    .type(format === 'html' ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8')
    .send(stream);
}

export const patientRightsRoutes: RouteModule = (app, deps) => {
  app.get<{ Querystring: { format?: 'json' | 'html' } }>(
    '/me/export',
    {
      schema: {
        tags: [TAG],
        summary: 'Download your whole record',
        description:
          'Every case, the message thread and every appointment transcript, the notes of your cases (therapist ' +
          'notes and your corrections), your requests and your identity fields. `json`: the portable format ' +
          '`therapy-chat-export/1` (docs/api.md); `html`: one self-contained document to read. Sent as an attachment.',
        security: BEARER,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { format: { type: 'string', enum: ['json', 'html'], default: 'json' } },
        },
        response: {
          200: {
            description: 'The record, as an attachment.',
            content: {
              'application/json': { schema: { type: 'object', description: 'therapy-chat-export/1' } },
              'text/html': { schema: { type: 'string' } },
            },
          },
          ...errors(400, 401, 403, 503),
        },
      },
    },
    async (req, reply) => {
      const principal = await authenticate(deps, req, ['patient']);
      return sendExport(deps, req, reply, principal, req.query.format ?? 'json');
    },
  );

  app.post<{
    Body: { caseId: string; conversationId?: string; seq?: number; noteId?: string; text: string };
  }>(
    '/me/corrections',
    {
      schema: {
        tags: [TAG],
        summary: 'Dispute a fact: append a correction note',
        description:
          'Appends a correction note to the case, pointing at what it disputes (a message by conversation and ' +
          'seq, a note, or the case as a whole). Nothing is edited: the original stays as it was.',
        security: BEARER,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['caseId', 'text'],
          properties: {
            caseId: CASE_REF,
            conversationId: ID,
            seq: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
            noteId: ID,
            text: { type: 'string', minLength: 1, maxLength: CORRECTION_MAX_CHARS, pattern: '\\S' },
          },
        },
        response: { 201: CORRECTION_SCHEMA, ...errors(400, 401, 403, 404, 503) },
      },
    },
    async (req, reply) => {
      const principal = await authenticate(deps, req, ['patient']);
      requireAuditLog(deps);
      const access = await caseAccess(deps, req.body.caseId);
      authorize(deps, req, principal, 'record.correct', access, { action: 'record.correction' });
      const note = await appendCorrection(deps, principal, req.body, deps.now());
      return reply.code(201).send(correctionView(note, req.body.text));
    },
  );

  app.get<{ Params: { caseId: string } }>(
    '/cases/:caseId/corrections',
    {
      schema: {
        tags: [TAG],
        summary: "The patient's correction notes on a case",
        description:
          "For whoever may read the case's notes: the patient, and the treating therapist within the window.",
        security: BEARER,
        params: { type: 'object', additionalProperties: false, required: ['caseId'], properties: { caseId: CASE_REF } },
        response: {
          200: {
            type: 'object',
            required: ['corrections'],
            properties: { corrections: { type: 'array', items: CORRECTION_SCHEMA } },
          },
          ...errors(400, 401, 403, 404, 503),
        },
      },
    },
    async (req) => {
      const principal = await authenticate(deps, req);
      requireAuditLog(deps);
      const access = await caseAccess(deps, req.params.caseId);
      authorize(deps, req, principal, 'note.read', access, { action: 'note.read' });
      return { corrections: await listCorrections(deps, access.caseId) };
    },
  );

  app.post<{ Body: { kind: RequestKind; scope: RequestScope; caseId?: string } }>(
    '/me/requests',
    {
      schema: {
        tags: [TAG],
        summary: 'Ask for erasure or restriction',
        description:
          'Recorded, and honoured as the law allows (docs/api.md): identity erasure erases your identity fields ' +
          '(after your active cases end); clinical records are exempt from erasure, so an erasure or restriction ' +
          'of a case restricts it: from then on only you (and an audited break-glass) can read it.',
        security: BEARER,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['kind', 'scope'],
          properties: {
            kind: { type: 'string', enum: REQUEST_KINDS },
            scope: { type: 'string', enum: REQUEST_SCOPES },
            caseId: { ...CASE_REF, description: 'The case, for the clinical scope (required there).' },
          },
        },
        response: { 201: REQUEST_SCHEMA, ...errors(400, 401, 403, 404, 503) },
      },
    },
    async (req, reply) => {
      const principal = await authenticate(deps, req, ['patient']);
      const { kind, scope, caseId } = req.body;
      const reason = `${kind}.${scope}`;
      const db = deps.store.kysely;
      if (scope === 'clinical') {
        if (caseId === undefined) throw new ApiError('VALIDATION_FAILED', 'body/caseId is required for scope clinical');
        authorize(deps, req, principal, 'record.request', await caseAccess(deps, caseId), {
          action: 'record.request',
          grantedReason: reason,
        });
      } else {
        if (caseId !== undefined)
          throw new ApiError('VALIDATION_FAILED', 'body/caseId belongs to scope clinical; identity is not per case');
        auditRequest(deps, req, principal, 'record.request', 'granted', reason, { type: 'user', id: principal.userId });
      }
      await auditWritten(deps);
      await honourDeferred(deps, req, principal);
      const filed = await fileDataRequest(db, principal.userId, { kind, scope, caseId: caseId ?? null }, deps.now());
      if (filed.restrictedCaseId !== null) deps.chat.accessChanged(filed.restrictedCaseId);
      return reply.code(201).send(requestView(filed.row));
    },
  );

  app.get(
    '/me/requests',
    {
      schema: {
        tags: [TAG],
        summary: 'Your erasure and restriction requests',
        security: BEARER,
        response: {
          200: {
            type: 'object',
            required: ['requests'],
            properties: { requests: { type: 'array', items: REQUEST_SCHEMA } },
          },
          ...errors(401, 403, 503),
        },
      },
    },
    async (req) => {
      const principal = await authenticate(deps, req, ['patient']);
      await honourDeferred(deps, req, principal);
      return { requests: (await dataRequestsOf(deps.store.kysely, principal.userId)).map(requestView) };
    },
  );

  app.get<{ Querystring: { from?: number; limit?: number; includeOwn?: boolean } }>(
    '/me/access-report',
    {
      schema: {
        tags: [TAG],
        summary: 'Who accessed your record',
        description:
          'Every audited access to your cases, their conversations, appointments and notes, and your account: ' +
          'time (UTC), who by role and a pseudonymous label, what, and the outcome. Break-glass accesses carry the ' +
          "admin's written reason and the grant's expiry. Page with `from` = the previous page's `next`.",
        security: BEARER,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
            limit: { type: 'integer', minimum: 1, maximum: ACCESS_REPORT_MAX_PAGE, default: 200 },
            includeOwn: { type: 'boolean', default: false, description: 'Include your own actions.' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['events', 'next', 'breakGlassGrants'],
            properties: {
              events: { type: 'array', items: ACCESS_EVENT_SCHEMA },
              next: { type: ['integer', 'null'], description: 'The `from` of the next page; null at the end.' },
              breakGlassGrants: { type: 'array', items: GRANT_SCHEMA },
            },
          },
          ...errors(400, 401, 403, 503),
        },
      },
    },
    async (req) => {
      const principal = await authenticate(deps, req, ['patient']);
      auditRequest(deps, req, principal, 'access-report.read', 'granted', 'patient-own-record', {
        type: 'user',
        id: principal.userId,
      });
      // What happened up to this request is in the report.
      await auditWritten(deps);
      return accessReport(deps.store.kysely, deps.audit.sink, principal.userId, {
        from: req.query.from,
        limit: req.query.limit ?? 200,
        includeOwn: req.query.includeOwn,
      });
    },
  );
};
