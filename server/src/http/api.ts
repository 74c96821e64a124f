/**
 * The versioned HTTP API under `/v1`: accounts and login, the admin API, the patient's data rights, therapist notes,
 * supervision and break-glass. Every route declares a JSON schema (validated by Fastify, published as OpenAPI at
 * `/v1/openapi.json`), authenticates with a bearer access token, and decides access through the access policy; every
 * decision about clinical data is audited. Route modules live in `routes/` and receive the same `ApiDeps`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { isIP } from 'node:net';
import type { AuditWriter } from '../audit/audit-writer.js';
import type { AuditAction, AuditOutcome, AuditResourceType } from '../audit/audit-sink.js';
import type { Authenticator, Principal } from '../auth/authenticator.js';
import type { ChatService } from '../chat/chat-service.js';
import type { Config } from '../config.js';
import type { DataKeyRing } from '../crypto/data-keys.js';
import type { KeyProvider } from '../crypto/key-provider.js';
import { decide, type Action, type CaseAccess, type Decision } from '../policy/access-policy.js';
import type { Store } from '../store/store.js';
import type { Role } from '@therapy-chat/protocol';
import { ApiError } from './api-errors.js';

export interface ApiDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly store: Store;
  readonly keys: DataKeyRing;
  /** The KEK provider, for per-user identity keys (`accounts/identity.ts`). */
  readonly keyProvider: KeyProvider;
  readonly authenticator: Authenticator;
  readonly audit: AuditWriter;
  /** The node's chat service: to close a user's sockets, end subscriptions, push to connected users. */
  readonly chat: ChatService;
  readonly now: () => number;
}

/** A route module: registers its routes on the `/v1`-prefixed app. */
export type RouteModule = (app: FastifyInstance, deps: ApiDeps) => void;

/** The security requirement every authenticated route declares in its schema. */
export const BEARER = [{ bearer: [] }];

export function bearerToken(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const m = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(header.trim());
  return m?.[1];
}

function clientOf(req: FastifyRequest): { ip: string | null; device: string | null } {
  const ua = req.headers['user-agent'];
  return { ip: isIP(req.ip) ? req.ip : null, device: typeof ua === 'string' && ua ? ua : null };
}

/** Records an audit event for an HTTP request. Never throws: an event the log refuses is logged as an error. */
export function auditRequest(
  deps: ApiDeps,
  req: FastifyRequest,
  actor: Principal | 'anonymous' | 'system',
  action: AuditAction,
  outcome: AuditOutcome,
  reason: string,
  resource?: { type: AuditResourceType; id: string },
): void {
  try {
    deps.audit.record({
      actor: typeof actor === 'string' ? actor : { userId: actor.userId, role: actor.role },
      action,
      resource: resource ?? null,
      outcome,
      reason,
      time: deps.now(),
      ...clientOf(req),
    });
  } catch (err) {
    req.log.error({ err, action }, 'audit event refused');
  }
}

/** The caller, from the bearer access token; refuses with `UNAUTHENTICATED` (audited) otherwise. */
export async function authenticate(deps: ApiDeps, req: FastifyRequest, roles?: readonly Role[]): Promise<Principal> {
  const token = bearerToken(req);
  if (!token) throw new ApiError('UNAUTHENTICATED', 'send `Authorization: Bearer <access token>`');
  const result = await deps.authenticator.authenticate(token, deps.now());
  if (!result.ok) {
    const reason = {
      INVALID_TOKEN: 'invalid-token',
      TOKEN_EXPIRED: 'token-expired',
      ACCOUNT_DISABLED: 'account-disabled',
      SESSION_ENDED: 'session-ended',
    }[result.code];
    auditRequest(deps, req, 'anonymous', 'auth.refused', 'refused', reason);
    throw new ApiError(result.code === 'ACCOUNT_DISABLED' ? 'ACCOUNT_DISABLED' : 'UNAUTHENTICATED', result.reason);
  }
  if (roles && !roles.includes(result.principal.role)) {
    throw new ApiError('FORBIDDEN', `this endpoint is for ${roles.join(' or ')} accounts`);
  }
  return result.principal;
}

/**
 * Decides an action on a case through the access policy, audits the decision when it touches clinical data
 * (`audited`), and refuses with `FORBIDDEN` (or `NOT_FOUND` when the caller has no relation to the case at all).
 * A refusal is audited as `access.refused` with the policy's rule; a grant as `audited.action`, with `grantedReason`
 * or else the rule, unless `grantAuditedByCaller`: then the caller records the grant itself once the action has
 * happened (a note written, a list read), with the returned decision's rule.
 */
export function authorize(
  deps: ApiDeps,
  req: FastifyRequest,
  principal: Principal,
  action: Action,
  target: CaseAccess,
  audited?: {
    action: AuditAction;
    resource?: { type: AuditResourceType; id: string };
    grantedReason?: string;
    grantAuditedByCaller?: boolean;
  },
): Decision & { allow: true } {
  const decision = decide(principal, action, { case: target }, deps.now());
  if (audited && !(decision.allow && audited.grantAuditedByCaller)) {
    auditRequest(
      deps,
      req,
      principal,
      decision.allow ? audited.action : 'access.refused',
      decision.allow ? 'granted' : 'refused',
      decision.allow ? (audited.grantedReason ?? decision.rule) : decision.rule,
      audited.resource ?? { type: 'case', id: target.caseId },
    );
  }
  if (!decision.allow) throw new ApiError('FORBIDDEN', decision.reason);
  return decision;
}

/** Registers the OpenAPI document route and every route module under `/v1`. */
export function registerApi(app: FastifyInstance, deps: ApiDeps, modules: readonly RouteModule[]): void {
  void app.register(
    async (v1) => {
      v1.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
      for (const register of modules) register(v1, deps);
    },
    { prefix: '/v1' },
  );
}
