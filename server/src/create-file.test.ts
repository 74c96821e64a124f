import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createFileAtomically } from './create-file.js';

const run = promisify(execFile);

describe('createFileAtomically', () => {
  it('creates the file once, with its whole content and mode 0600, and leaves no temporary file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tc-create-'));
    const file = path.join(dir, 'key.json');
    expect(createFileAtomically(file, '{"first":true}')).toBe(true);
    expect(createFileAtomically(file, '{"second":true}')).toBe(false);
    expect(fs.readFileSync(file, 'utf8')).toBe('{"first":true}');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(dir)).toEqual(['key.json']);
  });

  it('lets processes that start together agree on one signing key, none reading a half-written file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tc-create-'));
    const module = fileURLToPath(new URL('../dist/auth/signing-key.js', import.meta.url));
    const script = `import(${JSON.stringify(module)}).then(async (m) => console.log((await m.loadOrCreateSigningKey(process.argv[1])).kid))`;
    const kids = await Promise.all(
      Array.from({ length: 6 }, () => run(process.execPath, ['-e', script, dir]).then((r) => r.stdout.trim())),
    );
    expect(new Set(kids).size).toBe(1);
    expect(fs.readdirSync(dir)).toEqual(['signing-key.json']);
  });
});
