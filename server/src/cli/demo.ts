#!/usr/bin/env node
/**
 * `npm run demo`: creates a therapist, a patient, a case and a live appointment in DATA_DIR's database, and prints
 * what a newcomer needs to hold a session: ids, tokens and the commands to connect. Safe while the server runs.
 */
import { loadOrCreateSigningKey, signToken } from '../auth/signing-key.js';
import { ConfigError, loadConfig } from '../config.js';
import { DataKeyRing } from '../crypto/data-keys.js';
import { FileKeyProvider } from '../crypto/file-key-provider.js';
import { createUser, openCase, scheduleAppointment } from '../domain/care-setup.js';
import { createLogger } from '../logger.js';
import { createStore } from '../server.js';

const TOKEN_TTL_SECONDS = 8 * 3600;

let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`therapy-chat: configuration error: ${err.message}\n`);
    process.exit(78);
  }
  throw err;
}
const log = createLogger('warn');
const store = createStore(config);
await store.migrate();
const keys = new DataKeyRing(store, FileKeyProvider.openOrCreate(config.dataDir, log));
const therapistId = await createUser(store, 'therapist');
const patientId = await createUser(store, 'patient');
const { caseId, threadId } = await openCase(store, keys, { patientId, therapistId });
const { appointmentId, conversationId } = await scheduleAppointment(store, caseId, { status: 'live' });
await store.close();

const key = await loadOrCreateSigningKey(config.dataDir);
const mint = (userId: string, role: 'patient' | 'therapist') =>
  signToken(key, {
    userId,
    role,
    ttlSeconds: TOKEN_TTL_SECONDS,
    issuer: config.tokenIssuer,
    audience: config.tokenAudience,
  });
const therapistToken = await mint(therapistId, 'therapist');
const patientToken = await mint(patientId, 'patient');
const url = `ws://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${config.port}/ws`;

process.stdout.write(`therapy-chat demo (fictional people; data in ${config.dataDir})

  therapist        ${therapistId}
  patient          ${patientId}
  case             ${caseId}
  appointment      ${appointmentId} (live)
  transcript       ${conversationId}   <- the live session's conversation
  message thread   ${threadId}   <- between sessions

Tokens (valid ${TOKEN_TTL_SECONDS / 3600} hours):
  THERAPIST_TOKEN=${therapistToken}
  PATIENT_TOKEN=${patientToken}

Try it (server running with \`npm start\`), in two terminals:
  npm run chat -- --url ${url} --conv ${conversationId} --token <THERAPIST_TOKEN>
  npm run chat -- --url ${url} --conv ${conversationId} --token <PATIENT_TOKEN>

Or speak the protocol yourself (JSON subprotocol \`therapy-chat.v1.json\`; frames in docs/protocol.md):
  {"type":"auth","token":"<token>"}
  {"type":"join","id":1,"conv":"${conversationId}","since":0}
  {"type":"send","id":2,"conv":"${conversationId}","clientMsgId":"m-1","text":"Hello"}
`);
