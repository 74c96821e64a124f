/**
 * Therapist notes and the caller's case list:
 * - `POST /v1/appointments/:appointmentId/note` — the case's therapist writes the clinical note of an ended
 *   appointment, once (records are never edited).
 * - `GET /v1/cases/:caseId/notes` — the case's notes, for whoever the access policy allows `note.read`.
 * - `GET /v1/me/cases` — the caller's cases, appointments and conversation ids.
 * Note writes and reads are audited, granted or refused; note text is sealed with the case's data key.
 */
import { casesOf } from '../../appointments/my-cases.js';
import { caseNotes, therapistNoteId, writeTherapistNote } from '../../notes/notes.js';
import { loadCaseAccess } from '../../policy/case-access.js';
import { auditRequest, authenticate, authorize, BEARER, type RouteModule } from '../api.js';
import { ApiError, ERROR_BODY_SCHEMA } from '../api-errors.js';

/** Longest note text, in characters. */
export const MAX_NOTE_LENGTH = 20_000;

const ID = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' } as const;
const CASE_REF = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' } as const;
const TIME = { type: 'string', format: 'date-time' } as const;
const NULLABLE_TIME = { type: ['string', 'null'], format: 'date-time' } as const;
const APPOINTMENT_STATUS = { type: 'string', enum: ['scheduled', 'waiting', 'live', 'ended', 'cancelled'] } as const;
const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ERROR_BODY_SCHEMA]));

const iso = (ms: number) => new Date(ms).toISOString();

export const appointmentRoutes: RouteModule = (app, deps) => {
  app.post<{ Params: { appointmentId: string }; Body: { text: string } }>(
    '/appointments/:appointmentId/note',
    {
      schema: {
        tags: ['notes'],
        summary: "Write the clinical note of an ended appointment (the case's therapist, once)",
        security: BEARER,
        params: {
          type: 'object',
          required: ['appointmentId'],
          additionalProperties: false,
          properties: { appointmentId: ID },
        },
        body: {
          type: 'object',
          required: ['text'],
          additionalProperties: false,
          properties: { text: { type: 'string', minLength: 1, maxLength: MAX_NOTE_LENGTH } },
        },
        response: {
          201: {
            type: 'object',
            required: ['noteId', 'appointmentId', 'caseId', 'createdAt'],
            properties: {
              noteId: { type: 'string' },
              appointmentId: { type: 'string' },
              caseId: { type: 'string' },
              createdAt: TIME,
            },
          },
          ...errors(400, 401, 403, 404, 409, 503),
        },
      },
    },
    async (req, reply) => {
      const principal = await authenticate(deps, req);
      const db = deps.store.kysely;
      const { appointmentId } = req.params;
      const appointment = await db
        .selectFrom('appointments')
        .select(['id', 'case_id', 'status'])
        .where('id', '=', appointmentId)
        .executeTakeFirst();
      const access = appointment && (await loadCaseAccess(db, appointment.case_id));
      if (!appointment || !access) throw new ApiError('NOT_FOUND', 'no such appointment');
      const resource = { type: 'appointment' as const, id: appointmentId };
      const { rule } = authorize(deps, req, principal, 'note.write', access, {
        action: 'note.write',
        resource,
        grantAuditedByCaller: true,
      });
      if (appointment.status !== 'ended') {
        auditRequest(deps, req, principal, 'note.write', 'refused', `appointment-${appointment.status}`, resource);
        throw new ApiError(
          'CONFLICT',
          `the appointment is ${appointment.status}; its note is written once it has ended`,
        );
      }
      await deps.keys.ensure(access.caseId);
      const at = deps.now();
      const result = await writeTherapistNote(db, deps.keys, {
        caseId: access.caseId,
        appointmentId,
        authorId: principal.userId,
        text: req.body.text,
        at,
      });
      if (result.kind === 'exists') {
        auditRequest(deps, req, principal, 'note.write', 'refused', 'note-exists', resource);
        throw new ApiError('CONFLICT', 'this appointment already has its note; records are never edited');
      }
      auditRequest(deps, req, principal, 'note.write', 'granted', rule, { type: 'note', id: result.noteId });
      return reply
        .code(201)
        .send({ noteId: therapistNoteId(appointmentId), appointmentId, caseId: access.caseId, createdAt: iso(at) });
    },
  );

  app.get<{ Params: { caseId: string } }>(
    '/cases/:caseId/notes',
    {
      schema: {
        tags: ['notes'],
        summary: "The case's clinical notes (therapist and correction notes), oldest first",
        security: BEARER,
        params: { type: 'object', required: ['caseId'], additionalProperties: false, properties: { caseId: CASE_REF } },
        response: {
          200: {
            type: 'object',
            required: ['caseId', 'notes'],
            properties: {
              caseId: { type: 'string' },
              notes: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['noteId', 'kind', 'authorRole', 'appointmentId', 'text', 'createdAt'],
                  properties: {
                    noteId: { type: 'string' },
                    kind: { type: 'string', enum: ['therapist', 'correction'] },
                    authorRole: { type: 'string' },
                    appointmentId: { type: ['string', 'null'] },
                    conversationId: { type: ['string', 'null'] },
                    seq: { type: ['integer', 'null'] },
                    targetNoteId: { type: ['string', 'null'] },
                    text: { type: 'string' },
                    createdAt: TIME,
                  },
                },
              },
            },
          },
          ...errors(400, 401, 403, 404, 503),
        },
      },
    },
    async (req) => {
      const principal = await authenticate(deps, req);
      const db = deps.store.kysely;
      const access = await loadCaseAccess(db, req.params.caseId);
      if (!access) throw new ApiError('NOT_FOUND', 'no such case');
      const resource = { type: 'case' as const, id: access.caseId };
      const { rule } = authorize(deps, req, principal, 'note.read', access, {
        action: 'note.read',
        resource,
        grantAuditedByCaller: true,
      });
      await deps.keys.ensure(access.caseId);
      const notes = await caseNotes(db, deps.keys, access.caseId);
      auditRequest(deps, req, principal, 'note.read', 'granted', rule, resource);
      return { caseId: access.caseId, notes: notes.map((n) => ({ ...n, createdAt: iso(n.createdAt) })) };
    },
  );

  app.get(
    '/me/cases',
    {
      schema: {
        tags: ['cases'],
        summary:
          "The caller's cases: a patient's own; a therapist's assigned and readable ones, and earlier cases of re-referred patients",
        security: BEARER,
        response: {
          200: {
            type: 'object',
            required: ['cases'],
            properties: {
              cases: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['caseId', 'status', 'dischargedAt', 'relation', 'threadId', 'appointments'],
                  properties: {
                    caseId: { type: 'string', description: 'The case reference, e.g. C-7K3M-92QD' },
                    status: { type: 'string', enum: ['active', 'discharged'] },
                    dischargedAt: NULLABLE_TIME,
                    relation: { type: 'string', enum: ['own', 'assigned', 'earlier-case'] },
                    threadId: { type: ['string', 'null'] },
                    appointments: {
                      type: 'array',
                      items: {
                        type: 'object',
                        required: ['appointmentId', 'conversationId', 'status', 'scheduledAt'],
                        properties: {
                          appointmentId: { type: 'string' },
                          conversationId: { type: 'string' },
                          status: APPOINTMENT_STATUS,
                          scheduledAt: TIME,
                        },
                      },
                    },
                  },
                },
              },
            },
          },
          ...errors(401, 403, 503),
        },
      },
    },
    async (req) => {
      const principal = await authenticate(deps, req, ['patient', 'therapist']);
      const cases = await casesOf(deps.store.kysely, principal, deps.now());
      return {
        cases: cases.map((c) => ({
          ...c,
          dischargedAt: c.dischargedAt === null ? null : iso(c.dischargedAt),
          appointments: c.appointments.map((a) => ({ ...a, scheduledAt: iso(a.scheduledAt) })),
        })),
      };
    },
  );
};
