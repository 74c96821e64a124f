/**
 * The browser bundle in a real browser (headless Chromium through playwright-core), chatting with a Node client; and
 * an unsent message that survives a page reload through IndexedDB and is delivered once.
 *
 * Needs Debian's chromium at /usr/bin/chromium (`apt-get install -y chromium`). Without it the test is skipped
 * locally, and fails when CI=true.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { REPO_ROOT } from '../../server/test/helpers/harness.js';
import {
  Clients,
  record,
  sleep,
  startServer,
  TcpProxy,
  waitUntil,
  type Session,
  type TestServer,
} from './helpers/sdk-harness.js';

const CHROMIUM = '/usr/bin/chromium';
const BUNDLE = path.join(REPO_ROOT, 'client-sdk/dist/browser/therapy-chat.js');
const PAGE = path.join(REPO_ROOT, 'client-sdk/test/browser/page.html');
const haveChromium = fs.existsSync(CHROMIUM);

interface PageMessage {
  seq: number;
  text: string;
  role: string;
  own: boolean;
}

interface PageApi {
  state(): string;
  joined(): boolean;
  states(): string[];
  messages(): PageMessage[];
  pending(): string[];
  stored(): Promise<string[]>;
  send(text: string): Promise<number>;
  sendLater(text: string): void;
}

declare global {
  interface Window {
    chat: PageApi;
  }
}

let ts: TestServer;
let s: Session;
let proxy: TcpProxy;
let web: http.Server;
let webUrl: string;
let browser: Browser | undefined;
const clients = new Clients();

async function pageUntil(
  page: Page,
  check: (api: PageApi) => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await page.evaluate(
      `(async () => { const chat = window.chat; return !!chat && !!(await (${check.toString()})(chat)); })()`,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting in the page for ${what}`);
    await sleep(25);
  }
}

describe('in a real browser (headless Chromium)', () => {
  beforeAll(async () => {
    if (!haveChromium) return;
    // The bundle under test is the one the build ships; rebuild it so the test never runs a stale one.
    await promisify(execFile)(process.execPath, [path.join(REPO_ROOT, 'client-sdk/scripts/build-browser.mjs')]);
    ts = await startServer({ LOG_LEVEL: 'warn' });
    s = await ts.seed();
    proxy = await TcpProxy.start(ts.url);
    web = http.createServer((req, res) => {
      const pathname = new URL(req.url ?? '/', 'http://x').pathname;
      const file = pathname === '/' ? PAGE : pathname === '/therapy-chat.js' ? BUNDLE : undefined;
      if (!file) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': file.endsWith('.js') ? 'text/javascript' : 'text/html' });
      res.end(fs.readFileSync(file));
    });
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    webUrl = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 60_000);

  afterAll(async () => {
    await clients.closeAll();
    await browser?.close();
    await proxy?.stop();
    if (web) await new Promise((resolve) => web.close(resolve));
    await ts?.stop();
  });

  it('chats with a Node client, and an unsent message survives a reload through IndexedDB and is delivered once', async (ctx) => {
    if (!haveChromium) {
      if (process.env['CI'] === 'true') {
        throw new Error(
          `CI=true but ${CHROMIUM} is missing: .ci/run must \`apt-get install -y chromium\` before the tests`,
        );
      }
      ctx.skip(`${CHROMIUM} is not installed (apt-get install -y chromium)`);
    }
    const therapist = clients.create({ url: ts.url, getToken: () => s.therapistToken });
    const tSeen = record(await therapist.join(s.conv));

    const page = await browser!.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    const query = new URLSearchParams({ url: proxy.url, conv: s.conv, token: s.patientToken, user: s.patientId });
    await page.goto(`${webUrl}/?${query.toString()}`);
    await pageUntil(page, (chat) => chat.state() === 'connected' && chat.joined(), 'connected and joined');

    // Both directions, through the bundle and the browser's own WebSocket.
    const seq = await page.evaluate(() => window.chat.send('Hello from the browser'));
    expect(seq).toBe(1);
    await waitUntil(() => tSeen.length === 1, 5_000, 'Node to get the browser message');
    expect(tSeen[0]).toMatchObject({ from: s.patientId, role: 'patient', text: 'Hello from the browser' });
    await therapist.conversation(s.conv).send('Hello from Node');
    await pageUntil(page, (chat) => chat.messages().length === 2, 'the browser to get the Node message');
    expect(await page.evaluate(() => window.chat.messages())).toEqual([
      { seq: 1, text: 'Hello from the browser', role: 'patient', own: true },
      { seq: 2, text: 'Hello from Node', role: 'therapist', own: false },
    ]);
    expect(await page.locator('#messages li').allTextContents()).toEqual([
      '#1 me: Hello from the browser',
      '#2 therapist: Hello from Node',
    ]);

    // The network goes away; the patient types; the page is reloaded before the network comes back.
    proxy.refuse();
    await pageUntil(page, (chat) => chat.state() !== 'connected', 'the page to notice it is offline');
    await page.evaluate(() => window.chat.sendLater('Typed while offline'));
    await pageUntil(
      page,
      async (chat) => (await chat.stored()).includes('Typed while offline'),
      'the message in IndexedDB',
    );
    await page.reload();
    await pageUntil(page, (chat) => chat.pending().includes('Typed while offline'), 'the reloaded page to restore it');
    await expect.poll(() => page.locator('#pending li').allTextContents()).toEqual(['sending… Typed while offline']);
    await sleep(200);
    expect(tSeen.map((m) => m.text)).toEqual(['Hello from the browser', 'Hello from Node']); // nothing got through

    proxy.restore();
    await waitUntil(() => tSeen.length === 3, 10_000, 'the offline message to arrive');
    await pageUntil(page, (chat) => chat.pending().length === 0, 'the page to see it acknowledged');
    await pageUntil(page, async (chat) => (await chat.stored()).length === 0, 'IndexedDB to be empty');
    await sleep(300); // a duplicate would arrive now
    expect(tSeen.map((m) => [m.seq, m.text])).toEqual([
      [1, 'Hello from the browser'],
      [2, 'Hello from Node'],
      [3, 'Typed while offline'],
    ]);
    const after = await page.evaluate(() => window.chat.messages());
    expect(after.map((m) => m.text)).toEqual(['Typed while offline']); // the reloaded page joined live
    expect(after[0]).toMatchObject({ seq: 3, own: true });
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 60_000);
});
