import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLOSE_CODES, ERROR_CODES } from '@therapy-chat/protocol';
import { REPO_ROOT } from '../../server/test/helpers/harness.js';
import { SDK_ERROR_CODES } from '../src/index.js';

describe('client-sdk/README.md', () => {
  it('documents every error code, close code and SDK code an app can meet', () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, 'client-sdk/README.md'), 'utf8');
    const codes = [...Object.keys(ERROR_CODES), ...Object.keys(SDK_ERROR_CODES)];
    expect(codes.filter((c) => !readme.includes(`\`${c}\``))).toEqual([]);
    // A table row: | 4101 | `TOKEN_EXPIRED` | … (Prettier pads the cells).
    const row = (code: number, name: string) => new RegExp(`\\|\\s*${code}\\s*\\|\\s*\`${name}\``);
    const closes = Object.entries(CLOSE_CODES).filter(([name, { code }]) => !row(code, name).test(readme));
    expect(closes.map(([name]) => name)).toEqual([]);
  });
});
