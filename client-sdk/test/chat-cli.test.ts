import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../server/test/helpers/harness.js';
import { Clients, record, startServer, waitUntil, type TestServer } from './helpers/sdk-harness.js';

const CLI = path.join(REPO_ROOT, 'client-sdk/dist/cli/chat.js');
const clients = new Clients();
let ts: TestServer | undefined;

afterEach(async () => {
  await clients.closeAll();
  await ts?.stop();
});

function runChat(args: string[]) {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out, exited };
}

describe('npm run chat (the terminal example)', () => {
  it('talks to an SDK client on the other side, shows recent history, and exits cleanly on Ctrl-D', async () => {
    ts = await startServer({ LOG_LEVEL: 'warn' });
    const s = await ts.seed();
    const therapist = clients.create({ url: ts.url, getToken: () => s.therapistToken });
    const tc = await therapist.join(s.conv);
    await tc.send('Welcome. How was your week?');
    const seen = record(tc);

    const chat = runChat(['--url', ts.url, '--conv', s.conv, '--token', s.patientToken]);
    await waitUntil(() => chat.out.stdout.includes('How was your week?'), 10_000, 'the history line');
    expect(chat.out.stdout).toMatch(/\[1\] \d\d:\d\d therapist .*: Welcome\. How was your week\?/);
    expect(chat.out.stderr).toContain('connected as patient');

    chat.child.stdin.write('Long, but better than the last one.\n');
    await waitUntil(() => seen.length === 1, 5_000, 'the therapist to receive it');
    expect(seen[0]).toMatchObject({ seq: 2, from: s.patientId, text: 'Long, but better than the last one.' });
    await waitUntil(() => chat.out.stdout.includes('you: Long, but better'), 5_000, 'the echo');

    await tc.send('Good to hear.');
    await waitUntil(() => chat.out.stdout.includes('Good to hear.'), 5_000, 'the reply');
    expect(chat.out.stdout).toMatch(/\[3\] \d\d:\d\d therapist .*: Good to hear\./);

    chat.child.stdin.end();
    expect(await chat.exited).toBe(0);
  }, 30_000);

  it('says what is wrong with its arguments', async () => {
    const chat = runChat(['--conv', 'x']);
    expect(await chat.exited).toBe(64);
    expect(chat.out.stderr).toContain('--url must be a ws:// or wss:// URL');
    expect(chat.out.stderr).toContain('usage: npm run chat');
  });
});
