/**
 * Virtual people, the supported way: users, cases and live appointments are created with the server's own domain
 * functions (`createUser`, `openCase`, `scheduleAppointment`) in the store the server uses, and tokens are minted with
 * the development signing key in the server's DATA_DIR (`signToken`), exactly as `npm run demo` and `npm run token`
 * do. The server's modules are loaded from `server/dist` at run time (the root scripts build first), so this package
 * has no build-time dependency on the server's internals beyond their types.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Role } from '@therapy-chat/protocol';
import type * as SigningKeyModule from '../../server/src/auth/signing-key.js';
import type * as ConfigModule from '../../server/src/config.js';
import type * as DataKeysModule from '../../server/src/crypto/data-keys.js';
import type * as FileKeyProviderModule from '../../server/src/crypto/file-key-provider.js';
import type * as CareSetupModule from '../../server/src/domain/care-setup.js';
import type * as LoggerModule from '../../server/src/logger.js';
import type * as ServerModule from '../../server/src/server.js';
import { SERVER_DIST } from './paths.js';

async function serverModule<T>(file: string): Promise<T> {
  return (await import(pathToFileURL(path.join(SERVER_DIST, file)).href)) as T;
}

export interface SeededSession {
  readonly therapistId: string;
  readonly patientId: string;
  readonly caseId: string;
  /** The case's inter-session message thread. */
  readonly threadId: string;
  /** The live appointment's transcript. */
  readonly conv: string;
}

export interface SeedTarget {
  /** The server's DATA_DIR: its key file (for the case keys) and its signing key (for tokens). */
  readonly dataDir: string;
  /** PostgreSQL instead of the SQLite file in DATA_DIR (a cluster). */
  readonly databaseUrl?: string;
}

/**
 * Creates `sessions` therapist–patient pairs, each with a case (and so a message thread) and a live appointment.
 * `caseload` > 1 gives each therapist that many patients (one case each) instead of one.
 */
export async function seedSessions(
  target: SeedTarget,
  sessions: number,
  caseload = 1,
  onProgress?: (done: number) => void,
): Promise<SeededSession[]> {
  const { loadConfig } = await serverModule<typeof ConfigModule>('config.js');
  const { createStore } = await serverModule<typeof ServerModule>('server.js');
  const { DataKeyRing } = await serverModule<typeof DataKeysModule>('crypto/data-keys.js');
  const { FileKeyProvider } = await serverModule<typeof FileKeyProviderModule>('crypto/file-key-provider.js');
  const { createUser, openCase, scheduleAppointment } =
    await serverModule<typeof CareSetupModule>('domain/care-setup.js');
  const { createLogger } = await serverModule<typeof LoggerModule>('logger.js');
  const config = loadConfig({
    DATA_DIR: target.dataDir,
    ...(target.databaseUrl ? { DATABASE_URL: target.databaseUrl } : {}),
    LOG_LEVEL: 'silent',
  });
  const store = createStore(config);
  await store.migrate();
  const keys = new DataKeyRing(store, FileKeyProvider.openOrCreate(config.dataDir, createLogger('silent')));
  const out: SeededSession[] = [];
  try {
    let therapistId = '';
    for (let i = 0; i < sessions; i++) {
      if (i % caseload === 0) therapistId = await createUser(store, 'therapist');
      const patientId = await createUser(store, 'patient');
      const { caseId, threadId } = await openCase(store, keys, { patientId, therapistId });
      const { conversationId } = await scheduleAppointment(store, caseId, { status: 'live' });
      out.push({ therapistId, patientId, caseId, threadId, conv: conversationId });
      if (onProgress && (i + 1) % 250 === 0) onProgress(i + 1);
    }
  } finally {
    await store.close();
  }
  return out;
}

/** Mints tokens with the signing key in `dataDir`, with the server's default issuer and audience unless given. */
export async function tokenMinter(
  dataDir: string,
  opts: { issuer?: string; audience?: string; ttlSeconds?: number } = {},
): Promise<(userId: string, role: Role) => Promise<string>> {
  const { loadOrCreateSigningKey, signToken } = await serverModule<typeof SigningKeyModule>('auth/signing-key.js');
  const key = await loadOrCreateSigningKey(dataDir);
  return (userId, role) =>
    signToken(key, {
      userId,
      role,
      ttlSeconds: opts.ttlSeconds ?? 4 * 3600,
      issuer: opts.issuer ?? process.env.TOKEN_ISSUER ?? 'therapy-chat',
      audience: opts.audience ?? process.env.TOKEN_AUDIENCE ?? 'therapy-chat',
    });
}

const id = (prefix: string) => `${prefix}_${randomBytes(16).toString('base64url')}`;

/** Sessions for the bare relay, which keeps no users and checks no signatures. */
export function fakeSessions(sessions: number, caseload = 1): SeededSession[] {
  const out: SeededSession[] = [];
  let therapistId = '';
  for (let i = 0; i < sessions; i++) {
    if (i % caseload === 0) therapistId = id('u');
    out.push({ therapistId, patientId: id('u'), caseId: `C-RELAY-${i}`, threadId: id('cv'), conv: id('cv') });
  }
  return out;
}

/** An unsigned token the relay reads `sub` and `role` from (it verifies nothing: no crypto). */
export function fakeToken(userId: string, role: Role): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: userId, role, exp: Math.floor(Date.now() / 1000) + 4 * 3600 })}.`;
}
