#!/usr/bin/env node
/**
 * `npm run admin:create -- --login <name>`: creates an admin account in the database the environment selects
 * (DATABASE_URL, else the SQLite file in DATA_DIR) and prints its user id. The password comes from the environment
 * variable ADMIN_PASSWORD, else from the first line of standard input; never from the command line, where other
 * users of the machine could read it. This is how the first admin comes to exist; later admins are created through
 * the admin API.
 *
 * Exit codes: 0 created; 64 usage (bad login or password); 65 the login is taken; 69 database unreachable;
 * 70 an unexpected error; 78 configuration.
 */
import { parseArgs } from 'node:util';
import { AccountError, Accounts } from '../accounts/accounts.js';
import { AuditWriter } from '../audit/audit-writer.js';
import { createAuditSink } from '../audit/create-audit-sink.js';
import { PasswordHasher } from '../auth/password-hasher.js';
import { ConfigError, loadConfig } from '../config.js';
import { FileKeyProvider } from '../crypto/file-key-provider.js';
import { createStore } from '../server.js';
import { StoreUnavailableError } from '../store/store.js';

const USAGE = 'usage: ADMIN_PASSWORD=… npm run admin:create -- --login <name>   (or the password on standard input)';
const EXIT = { usage: 64, taken: 65, unavailable: 69, software: 70, config: 78 } as const;

function stop(code: number, message: string, usage = false): void {
  process.stderr.write(`${message}\n${usage ? `${USAGE}\n` : ''}`);
  process.exitCode = code;
}

async function readPassword(): Promise<string> {
  const env = process.env['ADMIN_PASSWORD'];
  if (env !== undefined && env !== '') return env;
  if (process.stdin.isTTY) process.stderr.write('password: ');
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0] ?? '';
}

async function main(): Promise<void> {
  let login: string | undefined;
  try {
    ({
      values: { login },
    } = parseArgs({ options: { login: { type: 'string' } }, strict: true }));
  } catch (err) {
    return stop(EXIT.usage, (err as Error).message, true);
  }
  if (!login) return stop(EXIT.usage, '--login is required', true);
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) return stop(EXIT.config, `configuration error: ${err.message}`);
    throw err;
  }
  const password = await readPassword();
  const store = createStore(config);
  const hasher = new PasswordHasher({ workers: 1 });
  const sink = createAuditSink(config);
  const audit = new AuditWriter({ sink, onError: () => {} });
  try {
    await store.migrate();
    const accounts = new Accounts({
      db: store.kysely,
      provider: FileKeyProvider.openOrCreate(config.dataDir),
      hasher,
    });
    const account = await accounts.create({ role: 'admin', login, password });
    audit.record({
      actor: 'system',
      action: 'admin.change',
      resource: { type: 'user', id: account.id },
      outcome: 'granted',
      reason: 'user-created.cli',
      time: Date.now(),
    });
    await audit.close();
    process.stdout.write(`${account.id}\n`);
  } catch (err) {
    if (err instanceof AccountError) {
      return stop(err.code === 'LOGIN_TAKEN' ? EXIT.taken : EXIT.usage, err.message, err.code !== 'LOGIN_TAKEN');
    }
    if (err instanceof StoreUnavailableError) return stop(EXIT.unavailable, `database unreachable: ${err.message}`);
    return stop(EXIT.software, `failed: ${(err as Error).message}`);
  } finally {
    await hasher.close();
    await sink.close();
    await store.close();
  }
}

await main();
