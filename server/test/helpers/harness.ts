/**
 * Starts real servers for the tests: in this process on a free port with its own temporary DATA_DIR and SQLite
 * file, or as a child process (for kill -9 and SIGTERM). Seeds a case with a live appointment and mints tokens.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Role } from '@therapy-chat/protocol';
import { loadOrCreateSigningKey, signToken } from '../../src/auth/signing-key.js';
import { loadConfig } from '../../src/config.js';
import { DataKeyRing } from '../../src/crypto/data-keys.js';
import { FileKeyProvider } from '../../src/crypto/file-key-provider.js';
import { createUser, openCase, scheduleAppointment } from '../../src/domain/care-setup.js';
import { createLogger } from '../../src/logger.js';
import { TherapyChatServer, type ServerOverrides } from '../../src/server.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { Store } from '../../src/store/store.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function tempDataDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tc-test-'));
}

export async function mintToken(
  dataDir: string,
  userId: string,
  role: Role,
  opts: { ttlSeconds?: number; issuer?: string; audience?: string } = {},
): Promise<string> {
  const key = await loadOrCreateSigningKey(dataDir);
  return signToken(key, {
    userId,
    role,
    ttlSeconds: opts.ttlSeconds ?? 3600,
    issuer: opts.issuer ?? 'therapy-chat',
    audience: opts.audience ?? 'therapy-chat',
  });
}

export interface Session {
  readonly therapistId: string;
  readonly patientId: string;
  readonly caseId: string;
  readonly threadId: string;
  readonly appointmentId: string;
  readonly conv: string;
  readonly therapistToken: string;
  readonly patientToken: string;
}

/** A therapist, a patient, their case and a live appointment, with tokens. */
export async function seedSession(dataDir: string, store: Store, keys: DataKeyRing): Promise<Session> {
  const therapistId = await createUser(store, 'therapist');
  const patientId = await createUser(store, 'patient');
  const { caseId, threadId } = await openCase(store, keys, { patientId, therapistId });
  const { appointmentId, conversationId } = await scheduleAppointment(store, caseId, { status: 'live' });
  return {
    therapistId,
    patientId,
    caseId,
    threadId,
    appointmentId,
    conv: conversationId,
    therapistToken: await mintToken(dataDir, therapistId, 'therapist'),
    patientToken: await mintToken(dataDir, patientId, 'patient'),
  };
}

/** Seeds a session directly in a data directory, with no server running (for child-process tests). */
export async function seedOffline(dataDir: string): Promise<Session> {
  const store = new SqliteStore({ dataDir });
  await store.migrate();
  const keys = new DataKeyRing(store, FileKeyProvider.openOrCreate(dataDir));
  try {
    return await seedSession(dataDir, store, keys);
  } finally {
    await store.close();
  }
}

/** Collects log lines, for assertions on what was logged. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    cb();
  }
  get text(): string {
    return this.lines.join('\n');
  }
}

export interface TestServer {
  readonly server: TherapyChatServer;
  readonly dataDir: string;
  readonly url: string;
  readonly httpUrl: string;
  readonly logs: LogCapture;
  seed(): Promise<Session>;
  stop(): Promise<void>;
}

export async function startServer(
  env: Record<string, string> = {},
  overrides: ServerOverrides = {},
  dataDir: string = tempDataDir(),
): Promise<TestServer> {
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'debug', ...env });
  const logs = new LogCapture();
  const server = await TherapyChatServer.create(config, { logger: createLogger(config.logLevel, logs), ...overrides });
  const { port } = await server.listen();
  return {
    server,
    dataDir,
    logs,
    url: `ws://127.0.0.1:${port}/ws`,
    httpUrl: `http://127.0.0.1:${port}`,
    seed: () => seedSession(dataDir, server.store, server.keys),
    stop: () => server.stop(),
  };
}

export interface ChildServer {
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
  readonly output: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs the built server (`server/dist/cli/start.js`) as a child process and waits until it listens. */
export async function spawnServer(dataDir: string, env: Record<string, string> = {}, port = 0): Promise<ChildServer> {
  const entry = path.join(REPO_ROOT, 'server/dist/cli/start.js');
  if (!fs.existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first (npm test does)`);
  const child = spawn(process.execPath, [entry], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const listening = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${output.join('\n')}`)), 15_000);
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        output.push(line);
        try {
          const rec = JSON.parse(line) as { msg?: string; port?: number };
          if (rec.msg === 'listening' && rec.port) {
            clearTimeout(timer);
            resolve(rec.port);
          }
        } catch {
          // not a JSON log line
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`server exited before listening: ${output.join('\n')}`));
    });
  });
  const actual = await listening;
  return { child, port: actual, url: `ws://127.0.0.1:${actual}/ws`, output, exited };
}
