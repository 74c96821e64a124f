/**
 * Login, token refresh, logout and the caller's own account (`/v1/auth/*`, `/v1/me`). Login answers the same
 * `INVALID_CREDENTIALS`, after the same argon2id work, for an unknown login name as for a wrong password; failed
 * attempts are limited per login name and per IP.
 */
import { isIP } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Accounts, normaliseLogin, type Account } from '../../accounts/accounts.js';
import { readIdentity } from '../../accounts/identity.js';
import { signAccessToken } from '../../auth/access-tokens.js';
import { AuthSessions } from '../../auth/auth-sessions.js';
import { LoginLimiter } from '../../auth/login-limiter.js';
import { PasswordHasherBusyError, sharedPasswordHasher } from '../../auth/password-hasher.js';
import { checkPassword } from '../../auth/passwords.js';
import { loadOrCreateSigningKey, type SigningKey } from '../../auth/signing-key.js';
import { ApiError, ERROR_BODY_SCHEMA } from '../api-errors.js';
import { auditRequest, authenticate, BEARER, type ApiDeps, type RouteModule } from '../api.js';
import { IDENTITY_SCHEMA } from './account-schemas.js';

const TAGS = ['accounts and login'];

const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [s, ERROR_BODY_SCHEMA]));

const TOKENS_SCHEMA = {
  type: 'object',
  required: ['accessToken', 'refreshToken', 'expiresAt', 'refreshExpiresAt', 'user'],
  properties: {
    accessToken: { type: 'string', description: 'Bearer token for HTTP and the WebSocket `auth` frame.' },
    refreshToken: { type: 'string', description: 'Single use: swap it at `/v1/auth/refresh` for new tokens.' },
    expiresAt: { type: 'integer', description: 'When the access token expires, ms since the epoch.' },
    refreshExpiresAt: {
      type: 'integer',
      description: 'When the login session ends whatever happens, ms since the epoch.',
    },
    user: {
      type: 'object',
      required: ['id', 'role'],
      properties: { id: { type: 'string' }, role: { type: 'string' } },
    },
  },
} as const;

interface LoginBody {
  login: string;
  password: string;
}
interface RefreshBody {
  refreshToken: string;
}

function client(req: FastifyRequest): { ip: string | null; device: string | null } {
  const ua = req.headers['user-agent'];
  return {
    ip: isIP(req.ip) ? req.ip : null,
    // eslint-disable-next-line no-control-regex
    device: typeof ua === 'string' && ua ? ua.replace(/[\x00-\x1f\x7f]/g, ' ').slice(0, 256) : null,
  };
}

const asActor = (a: Account) => ({ userId: a.id, role: a.role, expiresAt: 0 });

export const authRoutes: RouteModule = (app, deps: ApiDeps) => {
  const hasher = sharedPasswordHasher();
  const accounts = new Accounts({ db: deps.store.kysely, provider: deps.keyProvider, hasher, now: deps.now });
  const sessions = new AuthSessions(deps.store.kysely);
  const limiter = new LoginLimiter();
  let signingKey: Promise<SigningKey> | undefined;
  const key = () => (signingKey ??= loadOrCreateSigningKey(deps.config.dataDir));

  async function issue(
    account: Account,
    req: FastifyRequest,
    reply: FastifyReply,
    refresh?: { sessionId: string; refreshToken: string; expiresAt: number },
  ) {
    const now = deps.now();
    const session =
      refresh ?? (await sessions.create(account.id, now, deps.config.refreshTokenTtlSeconds * 1000, client(req)));
    const access = await signAccessToken(await key(), {
      userId: account.id,
      role: account.role,
      sessionId: session.sessionId,
      issuer: deps.config.tokenIssuer,
      audience: deps.config.tokenAudience,
      now,
      // An access token never outlives its session.
      ttlSeconds: Math.max(
        1,
        Math.min(deps.config.accessTokenTtlSeconds, Math.floor((session.expiresAt - now) / 1000)),
      ),
    });
    void reply.header('cache-control', 'no-store');
    return {
      accessToken: access.token,
      refreshToken: session.refreshToken,
      expiresAt: access.expiresAt,
      refreshExpiresAt: session.expiresAt,
      user: { id: account.id, role: account.role },
    };
  }

  const busy = (err: unknown): never => {
    if (err instanceof PasswordHasherBusyError) {
      throw new ApiError('UNAVAILABLE', 'too many logins at once; retry in a second', { 'retry-after': '1' });
    }
    throw err;
  };

  app.post<{ Body: LoginBody }>(
    '/auth/login',
    {
      schema: {
        tags: TAGS,
        summary: 'Log in with a login name and password',
        description:
          'Starts a login session: a short-lived access token and a single-use refresh token. A wrong password and an unknown login name get the same answer. Failed attempts are limited per login name and per IP (429 with Retry-After).',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['login', 'password'],
          properties: {
            login: { type: 'string', minLength: 1, maxLength: 256 },
            password: { type: 'string', minLength: 1, maxLength: 1024 },
          },
        },
        response: { 200: TOKENS_SCHEMA, ...errors(400, 401, 403, 429, 503) },
      },
    },
    async (req, reply) => {
      const now = deps.now();
      const login = normaliseLogin(req.body.login);
      const { ip } = client(req);
      const wait = limiter.retryAfterMs(login, ip, now);
      if (wait > 0) {
        auditRequest(deps, req, 'anonymous', 'auth.refused', 'refused', 'rate-limited');
        const seconds = Math.ceil(wait / 1000);
        throw new ApiError('RATE_LIMITED', `too many failed logins; retry in ${seconds} s`, {
          'retry-after': String(seconds),
        });
      }
      const found = await accounts.byLogin(login);
      const ok = await checkPassword(hasher, req.body.password, found?.passwordHash).catch(busy);
      if (!found || !ok) {
        limiter.failed(login, ip, now);
        auditRequest(deps, req, 'anonymous', 'auth.refused', 'refused', 'bad-credentials');
        throw new ApiError('INVALID_CREDENTIALS', 'the login name or password is wrong');
      }
      limiter.succeeded(login);
      const { account } = found;
      const user = { type: 'user' as const, id: account.id };
      if (account.status !== 'active') {
        auditRequest(deps, req, asActor(account), 'auth.refused', 'refused', 'account-disabled', user);
        throw new ApiError('ACCOUNT_DISABLED', 'the account is disabled');
      }
      const body = await issue(account, req, reply);
      auditRequest(deps, req, asActor(account), 'auth.login', 'granted', 'password', user);
      return body;
    },
  );

  app.post<{ Body: RefreshBody }>(
    '/auth/refresh',
    {
      schema: {
        tags: TAGS,
        summary: 'Swap a refresh token for new tokens',
        description:
          'Rotates the refresh token: the one presented is used up. Presenting a used-up one again ends the whole login session (someone else holds its tokens) and closes its connections.',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['refreshToken'],
          properties: { refreshToken: { type: 'string', minLength: 1, maxLength: 512 } },
        },
        response: { 200: TOKENS_SCHEMA, ...errors(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const now = deps.now();
      const result = await sessions.rotate(req.body.refreshToken, now);
      if (result.kind === 'invalid') {
        auditRequest(deps, req, 'anonymous', 'auth.refused', 'refused', 'refresh-invalid');
        throw new ApiError('INVALID_CREDENTIALS', 'the refresh token is unknown, used up or expired; log in again');
      }
      const account = await accounts.get(result.userId);
      const user = { type: 'user' as const, id: result.userId };
      if (result.kind === 'reused') {
        deps.chat.userRevoked(result.userId, 'logged-out', result.sessionId);
        if (account) auditRequest(deps, req, asActor(account), 'auth.refused', 'refused', 'refresh-reuse', user);
        throw new ApiError('INVALID_CREDENTIALS', 'the refresh token was already used; the session has ended');
      }
      if (!account || account.status !== 'active') {
        await sessions.revoke(result.sessionId, now);
        auditRequest(deps, req, 'anonymous', 'auth.refused', 'refused', 'account-disabled', user);
        throw new ApiError('ACCOUNT_DISABLED', 'the account is disabled');
      }
      const body = await issue(account, req, reply, result);
      auditRequest(deps, req, asActor(account), 'auth.refresh', 'granted', 'refresh-token', user);
      return body;
    },
  );

  app.post(
    '/auth/logout',
    {
      schema: {
        tags: TAGS,
        summary: 'Log out',
        description:
          "Ends the access token's login session: its refresh token stops working, its access tokens are refused, and its WebSocket connections close with 4005 on every node.",
        security: BEARER,
        response: { 204: { type: 'null' }, ...errors(401, 403, 409) },
      },
    },
    async (req, reply) => {
      const principal = await authenticate(deps, req);
      if (!principal.sessionId) {
        throw new ApiError('CONFLICT', 'this token belongs to no login session; there is nothing to log out');
      }
      await sessions.revoke(principal.sessionId, deps.now());
      deps.chat.userRevoked(principal.userId, 'logged-out', principal.sessionId);
      auditRequest(deps, req, principal, 'auth.logout', 'granted', 'logout', { type: 'user', id: principal.userId });
      return reply.code(204).send();
    },
  );

  app.get(
    '/me',
    {
      schema: {
        tags: TAGS,
        summary: 'The caller’s own account',
        description:
          'Your id, role and login name, and your identity fields (null when none are recorded or they were erased).',
        security: BEARER,
        response: {
          200: {
            type: 'object',
            required: ['id', 'role', 'login', 'identity', 'identityErased'],
            properties: {
              id: { type: 'string' },
              role: { type: 'string' },
              login: { type: ['string', 'null'] },
              identity: { anyOf: [IDENTITY_SCHEMA, { type: 'null' }] },
              identityErased: { type: 'boolean' },
            },
          },
          ...errors(401, 403),
        },
      },
    },
    async (req) => {
      const principal = await authenticate(deps, req);
      const account = await accounts.get(principal.userId);
      if (!account) throw new ApiError('UNAUTHENTICATED', 'the account no longer exists');
      const identity = await readIdentity({ db: deps.store.kysely, provider: deps.keyProvider }, account.id);
      auditRequest(deps, req, principal, 'identity.read', 'granted', 'own-account', { type: 'user', id: account.id });
      return {
        id: account.id,
        role: account.role,
        login: account.login,
        identity: identity === 'erased' || identity === undefined ? null : identity,
        identityErased: identity === 'erased',
      };
    },
  );
};
