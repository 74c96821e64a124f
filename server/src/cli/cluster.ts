#!/usr/bin/env node
/**
 * `npm run cluster -- --nodes 3`: several nodes on 127.0.0.1 against the local PostgreSQL and Redis, behind a
 * round-robin TCP proxy so clients see one URL. For trying the production topology on one machine; see
 * docker-compose.yml for a real deployment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { TcpProxy } from '../cluster/tcp-proxy.js';
import { SERVER_NODE_FLAGS } from './node-flags.js';

const USAGE = `usage: npm run cluster -- [--nodes 3] [--port 8080] [--first-node-port 8081]
  Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), REDIS_URL (default
  redis://127.0.0.1:6379), DATA_DIR (default ./data, shared by the nodes for the key file), and any server variable.`;

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(64);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '3' },
      port: { type: 'string', default: process.env.PORT ?? '8080' },
      'first-node-port': { type: 'string' },
    },
    strict: true,
  }));
} catch (err) {
  fail((err as Error).message);
}
const nodes = Number(values.nodes);
const port = Number(values.port);
const firstNodePort = Number(values['first-node-port'] ?? port + 1);
if (!Number.isInteger(nodes) || nodes < 1 || nodes > 16) fail('--nodes must be from 1 to 16');
if (!Number.isInteger(port) || port < 1 || port > 65535) fail('--port must be a TCP port');
if (!Number.isInteger(firstNodePort) || firstNodePort < 1 || firstNodePort + nodes > 65536)
  fail('--first-node-port must be a TCP port');

const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), 'start.js');
const env = {
  ...process.env,
  HOST: '127.0.0.1',
  DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
};

const children: ChildProcess[] = [];
let stopping = false;
for (let i = 0; i < nodes; i++) {
  const nodePort = firstNodePort + i;
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, entry], {
    env: { ...env, PORT: String(nodePort) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.on('exit', (code, signal) => {
    if (!stopping)
      process.stderr.write(
        `cluster: node ${i + 1} (port ${nodePort}) exited (${signal ?? code}); the others carry on\n`,
      );
  });
  children.push(child);
}

const proxy = new TcpProxy(Array.from({ length: nodes }, (_, i) => ({ host: '127.0.0.1', port: firstNodePort + i })));
await proxy.listen(port);
process.stderr.write(
  `cluster: ${nodes} nodes on ports ${firstNodePort}–${firstNodePort + nodes - 1}, round-robin proxy on ws://127.0.0.1:${port}/ws\n`,
);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    process.stderr.write('cluster: stopping nodes\n');
    for (const c of children) c.kill('SIGTERM');
    void Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r))))).then(
      async () => {
        await proxy.close();
        process.exit(0);
      },
    );
  });
}
