#!/usr/bin/env node
/** `npm start`: runs one node with the config from the environment. */
import { ConfigError, loadConfig, type Config } from '../config.js';
import { RiskDataError } from '../risk/risk-data-error.js';
import { TherapyChatServer } from '../server.js';

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`therapy-chat: configuration error: ${err.message}\n`);
    process.exit(78); // EX_CONFIG
  }
  throw err;
}

let server: TherapyChatServer;
try {
  server = await TherapyChatServer.create(config);
} catch (err) {
  if (err instanceof RiskDataError) {
    process.stderr.write(`therapy-chat: configuration error: ${err.message}\n`);
    process.exit(78);
  }
  throw err;
}
process.on('uncaughtException', (err) => {
  // A bug: log it and exit so the supervisor restarts a clean process. Nothing acknowledged is lost: acks follow commits.
  server.log.fatal({ err }, 'uncaught exception; exiting');
  process.exit(1);
});
process.on('unhandledRejection', (err) => {
  server.log.fatal({ err }, 'unhandled rejection; exiting');
  process.exit(1);
});

let signals = 0;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (++signals > 1) {
      server.log.warn({ signal }, 'second signal: exiting at once');
      process.exit(1);
    }
    server.log.info({ signal }, 'signal received');
    // A shutdown that hangs (a stuck dependency) must not keep the process, and its port, forever.
    setTimeout(() => {
      server.log.error('shutdown took too long; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs + 10_000).unref();
    server.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        server.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}

try {
  await server.listen();
} catch (err) {
  server.log.fatal({ err }, 'could not start listening');
  process.exit(1);
}
