#!/usr/bin/env node
/**
 * `npm run chat -- --url ws://127.0.0.1:8080/ws --conv <id> --token <token>`: a terminal chat on the SDK, so that a
 * newcomer can talk to the server from two terminals (get ids and tokens from `npm run demo`). Type a line and press
 * Enter to send it; `/history` shows older messages; Ctrl-D (or `/quit`) waits for unsent messages, then exits.
 */
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { createClient, FileOutbox, type ChatMessage, type Conversation } from '../index.js';

const USAGE =
  'usage: npm run chat -- --url <ws://host:port/ws> --conv <conversation id> --token <token> [--since <seq>] [--json] [--outbox <file>]\n' +
  '  (the token may also come from THERAPY_CHAT_TOKEN)';

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(64); // EX_USAGE
}

let values: { url?: string; conv?: string; token?: string; since?: string; json?: boolean; outbox?: string };
try {
  ({ values } = parseArgs({
    options: {
      url: { type: 'string' },
      conv: { type: 'string' },
      token: { type: 'string' },
      since: { type: 'string' },
      json: { type: 'boolean', default: false },
      outbox: { type: 'string' },
    },
    strict: true,
  }));
} catch (err) {
  fail((err as Error).message);
}
const token = values.token ?? process.env['THERAPY_CHAT_TOKEN'];
if (!values.url || !/^wss?:\/\//.test(values.url)) fail('--url must be a ws:// or wss:// URL');
if (!values.conv) fail('--conv is required');
if (!token) fail('--token is required');
const since = values.since === undefined ? undefined : Number(values.since);
if (since !== undefined && (!Number.isSafeInteger(since) || since < 0))
  fail('--since must be a seq number (0 or more)');

const info = (line: string): void => void process.stderr.write(`* ${line}\n`);
const time = (ts: number) => new Date(ts).toTimeString().slice(0, 5);

const client = createClient({
  url: values.url,
  getToken: () => token,
  codec: values.json ? 'json' : 'msgpack',
  ...(values.outbox && { outbox: new FileOutbox(values.outbox) }),
});

function show(m: ChatMessage, own: boolean): void {
  const who = own ? 'you' : `${m.role} ${m.from}`;
  process.stdout.write(`[${m.seq}] ${time(m.ts)} ${who}: ${m.text}\n`);
}

client.on('state', (e) => {
  if (e.current === 'connected') info(`connected as ${client.session?.role} ${client.session?.user}`);
  else if (e.current === 'disconnected') info(`disconnected (${e.reason}); retrying in ${e.retryInMs} ms`);
  else if (e.current === 'closed' && e.error) {
    info(`closed: ${e.error.code}: ${e.error.message}`);
    process.exit(1);
  }
});
client.on('error', (e) => {
  if (e.error.code === 'TOKEN_EXPIRED')
    info('the token expired: mint a new one (`npm run token` or `npm run demo`) and restart');
  else info(`error ${e.error.code}: ${e.error.message}`);
});
client.on('message', (e) => show(e.message, e.own));
client.on('typing', (e) => {
  if (e.active) info(`${e.role} is typing…`);
});
client.on('presence', (e) => info(`here now: ${e.members.map((m) => m.role).join(', ') || 'nobody'}`));

const conversation: Conversation = client.conversation(values.conv, since === undefined ? {} : { since });
let oldest: number | undefined;

async function showHistory(): Promise<void> {
  const page = await conversation.history({ limit: 20, ...(oldest !== undefined && { before: oldest }) });
  if (page.messages.length === 0) return info('no older messages');
  oldest = page.messages[0]!.seq;
  for (const m of page.messages) show(m, m.from === client.session?.user);
  if (!page.hasMore) info('(start of the conversation)');
}

conversation.ready.then(
  async (c) => {
    info(`joined ${c.id}${c.closed ? ' (closed: read only)' : ''}; type a message and press Enter`);
    // Without --since, show the last few messages once for context; live ones follow through the message event.
    if (since === undefined && c.lastSeq > 0) {
      oldest = c.lastSeq + 1;
      await showHistory();
    }
  },
  (err: Error) => {
    info(`could not join: ${err.message}`);
    process.exit(1);
  },
);

let exiting = false;
async function quit(): Promise<void> {
  if (exiting) return;
  exiting = true;
  const deadline = Date.now() + 5_000;
  while (conversation.pending.length > 0 && Date.now() < deadline && client.state !== 'closed') {
    await new Promise((r) => setTimeout(r, 50));
  }
  if (conversation.pending.length > 0) info(`${conversation.pending.length} message(s) not sent yet`);
  await client.close();
  process.exit(conversation.pending.length > 0 ? 1 : 0);
}

const input = readline.createInterface({ input: process.stdin, terminal: false });
input.on('line', (line) => {
  const text = line.trim();
  if (!text) return;
  if (text === '/quit') return void quit();
  if (text === '/history') return void showHistory().catch((err: Error) => info(err.message));
  conversation.typing(false);
  conversation.send(text).catch((err: Error) => info(`not sent: ${err.message}`));
});
input.on('close', () => void quit());
process.on('SIGINT', () => void quit());
