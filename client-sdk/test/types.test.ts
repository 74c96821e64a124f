import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../server/test/helpers/harness.js';

describe('the public API types', () => {
  it('accept correct use and reject wrong event names, payloads and options at compile time (test/api.test-d.ts)', async () => {
    const tsc = path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
    const result = await promisify(execFile)(
      process.execPath,
      [tsc, '-p', path.join(REPO_ROOT, 'client-sdk/tsconfig.typetest.json')],
      {
        cwd: REPO_ROOT,
      },
    ).then(
      () => ({ ok: true, output: '' }),
      (err: { stdout?: string; stderr?: string }) => ({ ok: false, output: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
    );
    expect(result.output).toBe('');
    expect(result.ok).toBe(true);
  }, 60_000);
});
