/**
 * The admin API for accounts (`/v1/admin/users`): create, look up (identity included: it is not clinical content),
 * disable and enable. Admins only; every change is audited as `admin.change`.
 */
import type { FastifyRequest } from 'fastify';
import { ROLES, type Role } from '@therapy-chat/protocol';
import { AccountError, Accounts, type Account } from '../../accounts/accounts.js';
import { readIdentity, type Identity } from '../../accounts/identity.js';
import type { Principal } from '../../auth/authenticator.js';
import { PasswordHasherBusyError, sharedPasswordHasher } from '../../auth/password-hasher.js';
import { ApiError, ERROR_BODY_SCHEMA } from '../api-errors.js';
import { auditRequest, authenticate, BEARER, type ApiDeps, type RouteModule } from '../api.js';
import { ACCOUNT_SCHEMA, IDENTITY_SCHEMA } from './account-schemas.js';

const TAGS = ['admin: accounts'];
const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [s, ERROR_BODY_SCHEMA]));

const ID_PARAMS = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } },
} as const;

interface CreateBody {
  role: Role;
  login?: string;
  password?: string;
  externalSubject?: string;
  identity?: Identity;
}

function view(a: Account) {
  return {
    id: a.id,
    role: a.role,
    status: a.status,
    login: a.login,
    externalSubject: a.externalSubject,
    // Times as ISO 8601 UTC, as every admin route answers them.
    createdAt: new Date(a.createdAt).toISOString(),
    disabledAt: a.disabledAt === null ? null : new Date(a.disabledAt).toISOString(),
  };
}

function refuse(err: unknown): never {
  if (err instanceof AccountError) {
    if (err.code === 'LOGIN_TAKEN') throw new ApiError('CONFLICT', err.message);
    if (err.code === 'NOT_FOUND') throw new ApiError('NOT_FOUND', err.message);
    throw new ApiError('VALIDATION_FAILED', err.message);
  }
  if (err instanceof PasswordHasherBusyError) {
    throw new ApiError('UNAVAILABLE', 'the server is busy hashing passwords; retry in a second', {
      'retry-after': '1',
    });
  }
  throw err;
}

export const adminUserRoutes: RouteModule = (app, deps: ApiDeps) => {
  const accounts = new Accounts({
    db: deps.store.kysely,
    provider: deps.keyProvider,
    hasher: sharedPasswordHasher(),
    revoked: (userId, reason) => deps.chat.userRevoked(userId, reason),
    now: deps.now,
  });
  const admin = (req: FastifyRequest) => authenticate(deps, req, ['admin']);
  const changed = (req: FastifyRequest, p: Principal, reason: string, id: string) =>
    auditRequest(deps, req, p, 'admin.change', 'granted', reason, { type: 'user', id });

  app.post<{ Body: CreateBody }>(
    '/admin/users',
    {
      schema: {
        tags: TAGS,
        summary: 'Create an account',
        description:
          'A local account has a `login` (3–64 of a–z 0–9 . _ -; not an email address) and a `password` (12–256 characters); an account of the external identity provider has its `externalSubject` (the `sub` of its tokens). Identity fields are sealed at rest.',
        security: BEARER,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['role'],
          properties: {
            role: { type: 'string', enum: [...ROLES] },
            login: { type: 'string', minLength: 1, maxLength: 64 },
            password: { type: 'string', minLength: 1, maxLength: 1024 },
            externalSubject: { type: 'string', minLength: 1, maxLength: 255 },
            identity: IDENTITY_SCHEMA,
          },
        },
        response: { 201: ACCOUNT_SCHEMA, ...errors(400, 401, 403, 409, 503) },
      },
    },
    async (req, reply) => {
      const p = await admin(req);
      const account = await accounts.create(req.body).catch(refuse);
      changed(req, p, 'user-created', account.id);
      return reply.code(201).send(view(account));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/admin/users/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'An account, with its identity fields',
        security: BEARER,
        params: ID_PARAMS,
        response: {
          200: {
            ...ACCOUNT_SCHEMA,
            required: [...ACCOUNT_SCHEMA.required, 'identity', 'identityErased'],
            properties: {
              ...ACCOUNT_SCHEMA.properties,
              identity: { anyOf: [IDENTITY_SCHEMA, { type: 'null' }] },
              identityErased: { type: 'boolean' },
            },
          },
          ...errors(400, 401, 403, 404),
        },
      },
    },
    async (req) => {
      const principal = await admin(req);
      const account = await accounts.get(req.params.id);
      if (!account) throw new ApiError('NOT_FOUND', 'no such account');
      const identity = await readIdentity({ db: deps.store.kysely, provider: deps.keyProvider }, account.id);
      auditRequest(deps, req, principal, 'identity.read', 'granted', 'admin-account-view', {
        type: 'user',
        id: account.id,
      });
      return {
        ...view(account),
        identity: identity === 'erased' || identity === undefined ? null : identity,
        identityErased: identity === 'erased',
      };
    },
  );

  app.post<{ Params: { id: string } }>(
    '/admin/users/:id/disable',
    {
      schema: {
        tags: TAGS,
        summary: 'Disable an account',
        description:
          'No login, refresh or token is accepted for it any more; its login sessions end and its WebSocket connections close with 4003 on every node.',
        security: BEARER,
        params: ID_PARAMS,
        response: { 200: ACCOUNT_SCHEMA, ...errors(400, 401, 403, 404, 409) },
      },
    },
    async (req) => {
      const p = await admin(req);
      if (req.params.id === p.userId) throw new ApiError('CONFLICT', 'an admin cannot disable their own account');
      const account = await accounts.disable(req.params.id).catch(refuse);
      changed(req, p, 'user-disabled', account.id);
      return view(account);
    },
  );

  app.post<{ Params: { id: string } }>(
    '/admin/users/:id/enable',
    {
      schema: {
        tags: TAGS,
        summary: 'Enable a disabled account',
        description: 'The user can log in again; sessions that ended when it was disabled stay ended.',
        security: BEARER,
        params: ID_PARAMS,
        response: { 200: ACCOUNT_SCHEMA, ...errors(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const p = await admin(req);
      const account = await accounts.enable(req.params.id).catch(refuse);
      changed(req, p, 'user-enabled', account.id);
      return view(account);
    },
  );
};
