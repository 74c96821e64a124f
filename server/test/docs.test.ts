/**
 * Keeps the docs true: every code, limit, config variable and metric that exists is documented, and nothing is
 * documented that does not exist.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLOSE_CODES, DEFAULT_LIMITS, ERROR_CODES } from '@therapy-chat/protocol';
import { Metrics } from '../src/metrics.js';
import { API_ERRORS } from '../src/http/api-errors.js';
import { SERVER_NODE_FLAGS } from '../src/cli/node-flags.js';
import { REPO_ROOT } from './helpers/harness.js';

const read = (file: string) => fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');

/** The rows of the markdown table that follows `heading`. */
function tableAfter(doc: string, heading: string): string[][] {
  const start = doc.indexOf(heading);
  if (start < 0) throw new Error(`heading ${heading} not found`);
  const lines = doc.slice(start).split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  }
  return rows;
}

const unquote = (cell: string) => cell.replace(/`/g, '');

describe('docs/protocol.md', () => {
  const doc = read('docs/protocol.md');

  it('lists exactly the error codes of the registry, with their category and retry flag', () => {
    const rows = tableAfter(doc, '## Error codes');
    expect(rows.map((r) => unquote(r[0]!)).sort()).toEqual(Object.keys(ERROR_CODES).sort());
    for (const [code, category, retry] of rows) {
      const info = ERROR_CODES[unquote(code!) as keyof typeof ERROR_CODES];
      expect([category, retry]).toEqual([info.category, info.retryable ? 'yes' : 'no']);
    }
  });

  it('lists exactly the close codes of the registry, with their number and action', () => {
    const rows = tableAfter(doc, '## Close codes');
    expect(rows.map((r) => unquote(r[1]!)).sort()).toEqual(Object.keys(CLOSE_CODES).sort());
    for (const [code, name, action] of rows) {
      const info = CLOSE_CODES[unquote(name!) as keyof typeof CLOSE_CODES];
      expect([Number(code), action]).toEqual([info.code, info.action]);
    }
  });

  it('lists every limit with its default', () => {
    const rows = tableAfter(doc, '## Limits');
    expect(rows.map((r) => unquote(r[0]!)).sort()).toEqual(Object.keys(DEFAULT_LIMITS).sort());
    for (const [name, def] of rows) {
      expect(Number(def!.replace(/,/g, ''))).toBe(DEFAULT_LIMITS[unquote(name!) as keyof typeof DEFAULT_LIMITS]);
    }
  });
});

describe('README.md protocol summary', () => {
  it('names every error code and every close code of the registry', () => {
    const summary = read('README.md').split('## Protocol in brief')[1]!.split('\n## ')[0]!;
    for (const code of Object.keys(ERROR_CODES)) expect(summary).toContain(`\`${code}\``);
    for (const { code } of Object.values(CLOSE_CODES)) expect(summary).toContain(String(code));
  });
});

describe('README.md configuration table', () => {
  it('documents exactly the variables the server reads', () => {
    const source = read('server/src/config.ts');
    const read_ = new Set(
      [...source.matchAll(/(?:intVar|strVar|urlVar|boolVar)\(\s*env,\s*'([A-Z_]+)'/g)].map((m) => m[1]!),
    );
    const rows = tableAfter(read('README.md'), '## Configuration');
    expect(rows.map((r) => unquote(r[0]!)).sort()).toEqual([...read_].sort());
  });
});

describe('the V8 flags of a server process', () => {
  it('are the same in npm start, the Docker image and node-flags.ts', () => {
    const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts['start']!;
    expect(start).toContain(`node ${SERVER_NODE_FLAGS.join(' ')} server/dist/cli/start.js`);
    const cmd = read('Dockerfile')
      .split('\n')
      .find((l) => l.startsWith('CMD '));
    expect(JSON.parse(cmd!.slice(4))).toEqual(['node', ...SERVER_NODE_FLAGS, 'server/dist/cli/start.js']);
    expect(read('docs/operations.md')).toContain(`node ${SERVER_NODE_FLAGS.join(' ')} server/dist/cli/start.js`);
  });
});

describe('docs/operations.md metrics table', () => {
  it('documents exactly the tc_ metrics the server registers', async () => {
    const registered = (await new Metrics().registry.getMetricsAsJSON())
      .map((m) => m.name)
      .filter((n) => n.startsWith('tc_'));
    const rows = tableAfter(read('docs/operations.md'), '## Metrics');
    const documented = rows.map((r) => unquote(r[0]!).replace(/\{.*\}$/, '')).filter((n) => n.startsWith('tc_'));
    expect(documented.sort()).toEqual(registered.sort());
  });
});

describe('docs/api.md error table', () => {
  it('lists exactly the HTTP API error codes, with their status', () => {
    const rows = tableAfter(read('docs/api.md'), '## Errors');
    expect(rows.map((r) => unquote(r[0]!)).sort()).toEqual(Object.keys(API_ERRORS).sort());
    for (const [code, status] of rows) {
      expect(Number(status)).toBe(API_ERRORS[unquote(code!) as keyof typeof API_ERRORS].status);
    }
  });
});
