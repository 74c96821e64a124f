/**
 * Configuration from environment variables, validated at boot. A bad value stops the server with a message that
 * names the variable, what it got and what it wants. Every variable is documented in the README's config table.
 */
import path from 'node:path';
import { DEFAULT_LIMITS, type Limits } from '@therapy-chat/protocol';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly logLevel: LogLevel;
  readonly limits: Limits;
  /** Bytes a connection may have queued for sending before it is closed as a slow consumer. */
  readonly maxOutboundBytes: number;
  /** Queued bytes above which typing and presence are shed for that connection. */
  readonly shedOutboundBytes: number;
  readonly heartbeatMs: number;
  /** A connection whose user has done nothing for this long is closed (4004). */
  readonly idleTimeoutMs: number;
  readonly authTimeoutMs: number;
  readonly commitMaxBatch: number;
  readonly sqliteBusyTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  readonly tokenIssuer: string;
  readonly tokenAudience: string;
  /** Lifetime of the login API's access tokens, in seconds. */
  readonly accessTokenTtlSeconds: number;
  /** Absolute lifetime of a login session (its refresh tokens), in seconds. */
  readonly refreshTokenTtlSeconds: number;
  /** An external identity provider's JWKS, when set: its tokens (issuer TOKEN_ISSUER) are accepted too. */
  readonly jwksUrl: string | undefined;
  /** The token claim holding the role. */
  readonly tokenRoleClaim: string;
  /** PostgreSQL instead of SQLite, when set. */
  readonly databaseUrl: string | undefined;
  readonly databasePoolSize: number;
  /** The Redis bus instead of the in-process one, when set. */
  readonly redisUrl: string | undefined;
  readonly redisSharded: boolean;
  /** Crisis resources shown to a patient after a risk hit (JSON file); unset: the default with placeholders. */
  readonly crisisResourcesFile: string | undefined;
  /** The risk phrase list; unset: the list shipped with the server. */
  readonly riskPhrasesFile: string | undefined;
  /** The longest break-glass grant an admin may take, in minutes. */
  readonly breakGlassMaxMinutes: number;
  /** How often this node runs retention (crypto-shredding); 0: never (run `npm run retention` instead). */
  readonly retentionIntervalMs: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Readonly<Record<string, string | undefined>>;

function intVar(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is invalid: expected an integer from ${min} to ${max}`);
  }
  return n;
}

function strVar(env: Env, name: string, def: string): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (raw.trim() !== raw)
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is invalid: leading or trailing spaces`);
  return raw;
}

function urlVar(env: Env, name: string, protocols: readonly string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a valid URL: expected ${protocols.map((p) => `${p}//…`).join(' or ')}`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(`${name} has scheme ${url.protocol} but must be ${protocols.join(' or ')}`);
  }
  return raw;
}

function boolVar(env: Env, name: string, def: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(`${name}=${JSON.stringify(raw)} is invalid: expected true or false`);
}

export function loadConfig(env: Env = process.env): Config {
  const logLevel = strVar(env, 'LOG_LEVEL', 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL=${JSON.stringify(logLevel)} is invalid: expected one of ${LOG_LEVELS.join(', ')}`);
  }
  const maxFrameBytes = intVar(env, 'MAX_FRAME_BYTES', DEFAULT_LIMITS.maxFrameBytes, 1024, 16 * 1024 * 1024);
  const limits: Limits = {
    maxFrameBytes,
    maxTextLength: intVar(env, 'MAX_TEXT_LENGTH', DEFAULT_LIMITS.maxTextLength, 1, 1_000_000),
    framesPerSecond: intVar(env, 'FRAMES_PER_SECOND', DEFAULT_LIMITS.framesPerSecond, 1, 100_000),
    frameBurst: intVar(env, 'FRAME_BURST', DEFAULT_LIMITS.frameBurst, 1, 1_000_000),
    maxConversationsPerConnection: intVar(
      env,
      'MAX_CONVERSATIONS_PER_CONNECTION',
      DEFAULT_LIMITS.maxConversationsPerConnection,
      1,
      10_000,
    ),
    maxHistoryPage: intVar(env, 'MAX_HISTORY_PAGE', DEFAULT_LIMITS.maxHistoryPage, 1, 10_000),
    maxClientMsgIdLength: DEFAULT_LIMITS.maxClientMsgIdLength,
  };
  if (limits.maxTextLength * 4 + 512 > maxFrameBytes) {
    throw new ConfigError(
      `MAX_TEXT_LENGTH=${limits.maxTextLength} does not fit in MAX_FRAME_BYTES=${maxFrameBytes}: a text of that many characters can take 4 bytes each; raise MAX_FRAME_BYTES to at least ${limits.maxTextLength * 4 + 512}`,
    );
  }
  const maxOutboundBytes = intVar(env, 'MAX_OUTBOUND_BYTES', 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024);
  if (maxOutboundBytes < 2 * maxFrameBytes) {
    throw new ConfigError(
      `MAX_OUTBOUND_BYTES=${maxOutboundBytes} is invalid: it must be at least twice MAX_FRAME_BYTES (${2 * maxFrameBytes})`,
    );
  }
  return {
    port: intVar(env, 'PORT', 8080, 0, 65535),
    host: strVar(env, 'HOST', '127.0.0.1'),
    dataDir: path.resolve(strVar(env, 'DATA_DIR', './data')),
    logLevel,
    limits,
    maxOutboundBytes,
    shedOutboundBytes: Math.floor(maxOutboundBytes / 4),
    heartbeatMs: intVar(env, 'HEARTBEAT_INTERVAL_MS', 25_000, 100, 600_000),
    authTimeoutMs: intVar(env, 'AUTH_TIMEOUT_MS', 10_000, 100, 600_000),
    idleTimeoutMs: intVar(env, 'IDLE_TIMEOUT_MS', 3_600_000, 1000, 24 * 3_600_000),
    commitMaxBatch: intVar(env, 'COMMIT_MAX_BATCH', 256, 1, 10_000),
    sqliteBusyTimeoutMs: intVar(env, 'SQLITE_BUSY_TIMEOUT_MS', 2_000, 0, 60_000),
    shutdownTimeoutMs: intVar(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    tokenIssuer: strVar(env, 'TOKEN_ISSUER', 'therapy-chat'),
    tokenAudience: strVar(env, 'TOKEN_AUDIENCE', 'therapy-chat'),
    accessTokenTtlSeconds: intVar(env, 'ACCESS_TOKEN_TTL_SECONDS', 900, 30, 86_400),
    refreshTokenTtlSeconds: intVar(env, 'REFRESH_TOKEN_TTL_SECONDS', 7 * 86_400, 300, 90 * 86_400),
    jwksUrl: urlVar(env, 'JWKS_URL', ['https:', 'http:']),
    tokenRoleClaim: strVar(env, 'TOKEN_ROLE_CLAIM', 'role'),
    databaseUrl: urlVar(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    databasePoolSize: intVar(env, 'DATABASE_POOL_SIZE', 10, 1, 1000),
    redisUrl: urlVar(env, 'REDIS_URL', ['redis:', 'rediss:']),
    redisSharded: boolVar(env, 'REDIS_SHARDED', false),
    crisisResourcesFile: strVar(env, 'CRISIS_RESOURCES_FILE', '') || undefined,
    riskPhrasesFile: strVar(env, 'RISK_PHRASES_FILE', '') || undefined,
    breakGlassMaxMinutes: intVar(env, 'BREAK_GLASS_MAX_MINUTES', 240, 1, 7 * 24 * 60),
    retentionIntervalMs: intVar(env, 'RETENTION_INTERVAL_MS', 86_400_000, 0, 30 * 86_400_000),
  };
}
