#!/usr/bin/env node
/** `npm run token -- --user <id> --role <role> [--ttl <seconds>]`: mints a development token from DATA_DIR's signing key. */
import { parseArgs } from 'node:util';
import { ROLES, type Role } from '@therapy-chat/protocol';
import { loadOrCreateSigningKey, signToken } from '../auth/signing-key.js';
import { ConfigError, loadConfig } from '../config.js';

const USAGE =
  'usage: npm run token -- --user <id> --role <patient|therapist|supervisor|admin> [--ttl <seconds, default 3600>]';

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(64); // EX_USAGE
}

try {
  const { values } = parseArgs({
    options: { user: { type: 'string' }, role: { type: 'string' }, ttl: { type: 'string', default: '3600' } },
    strict: true,
  });
  if (!values.user || !/^[A-Za-z0-9_-]{1,64}$/.test(values.user))
    fail('--user must be 1–64 characters of A–Z a–z 0–9 _ -');
  if (!values.role || !ROLES.includes(values.role as Role)) fail(`--role must be one of ${ROLES.join(', ')}`);
  const ttl = Number(values.ttl);
  if (!Number.isSafeInteger(ttl) || ttl < 1 || ttl > 7 * 24 * 3600)
    fail('--ttl must be whole seconds from 1 to 604800');
  const config = loadConfig();
  const key = await loadOrCreateSigningKey(config.dataDir);
  const token = await signToken(key, {
    userId: values.user,
    role: values.role as Role,
    ttlSeconds: ttl,
    issuer: config.tokenIssuer,
    audience: config.tokenAudience,
  });
  process.stdout.write(`${token}\n`);
} catch (err) {
  if (err instanceof ConfigError) fail(`configuration error: ${err.message}`);
  if (err instanceof TypeError && 'code' in err) fail(err.message);
  throw err;
}
