/**
 * Type tests for the public API, checked by `tsc -p client-sdk/tsconfig.typetest.json` (run by types.test.ts).
 * Every `@ts-expect-error` line must fail to compile: tsc reports an unused one as an error.
 */
import { expectTypeOf } from 'vitest';
import {
  ChatError,
  createClient,
  FileOutbox,
  IndexedDbOutbox,
  MemoryOutbox,
  type ChatErrorCode,
  type ChatMessage,
  type ConnectionState,
  type Conversation,
  type ErrorEvent,
  type HistoryPage,
  type MessageEvent,
  type Outbox,
  type PresenceEvent,
  type SendReceipt,
  type StateEvent,
  type TypingEvent,
} from '../src/index.js';
import { createClient as createBrowserClient } from '../src/browser.js';

const client = createClient({ url: 'ws://127.0.0.1:8080/ws', getToken: async () => 'token' });
createClient({ url: 'ws://x/ws', getToken: () => 'token', codec: 'json', outbox: new FileOutbox('/tmp/o.json') });
createBrowserClient({ url: 'wss://x/ws', getToken: () => 'token', outbox: new IndexedDbOutbox({ name: 'u1' }) });
expectTypeOf(new MemoryOutbox()).toMatchTypeOf<Outbox>();

// @ts-expect-error: getToken is required
createClient({ url: 'ws://x/ws' });
// @ts-expect-error: only msgpack and json
createClient({ url: 'ws://x/ws', getToken: () => 't', codec: 'xml' });
// @ts-expect-error: getToken returns a token string, not an object
createClient({ url: 'ws://x/ws', getToken: () => ({ token: 't' }) });

// Events: each name has exactly one context type.
client.on('message', (e) => {
  expectTypeOf(e).toEqualTypeOf<MessageEvent>();
  expectTypeOf(e.message).toEqualTypeOf<ChatMessage>();
  expectTypeOf(e.message.seq).toBeNumber();
  expectTypeOf(e.own).toBeBoolean();
  expectTypeOf(e.replayed).toBeBoolean();
  expectTypeOf(e.conversation).toEqualTypeOf<Conversation>();
});
client.on('typing', (e) => expectTypeOf(e).toEqualTypeOf<TypingEvent>());
client.on('presence', (e) =>
  expectTypeOf(e.members[0]!.role).toEqualTypeOf<'patient' | 'therapist' | 'supervisor' | 'admin'>(),
);
client.on('state', (e) => {
  expectTypeOf(e).toEqualTypeOf<StateEvent>();
  expectTypeOf(e.current).toEqualTypeOf<ConnectionState>();
  expectTypeOf(e.closeCode).toEqualTypeOf<number | undefined>();
});
client.on('error', (e) => {
  expectTypeOf(e).toEqualTypeOf<ErrorEvent>();
  expectTypeOf(e.error.code).toEqualTypeOf<ChatErrorCode>();
});
const off = client.once('presence', (e: PresenceEvent) => e.members.length);
expectTypeOf(off).toEqualTypeOf<() => void>();

// @ts-expect-error: no such event
client.on('messages', () => {});
// @ts-expect-error: no such event
client.on('connected', () => {});
// @ts-expect-error: a message event has no `user` (that is typing)
client.on('message', (e) => e.user);
// @ts-expect-error: a typing listener cannot take a message event
client.on('message', (e: TypingEvent) => e.active);
// @ts-expect-error: state is a client event, not a conversation event
client.conversation('c1').on('state', () => {});

// States and codes are closed unions.
expectTypeOf<ConnectionState>().toEqualTypeOf<'disconnected' | 'connecting' | 'connected' | 'closed'>();
expectTypeOf<'FORBIDDEN'>().toMatchTypeOf<ChatErrorCode>();
expectTypeOf<'RATE_LIMITED'>().toMatchTypeOf<ChatErrorCode>();
expectTypeOf<'HEARTBEAT_TIMEOUT'>().toMatchTypeOf<ChatErrorCode>();
expectTypeOf<'CLIENT_CLOSED'>().toMatchTypeOf<ChatErrorCode>();
expectTypeOf<'NOT_A_CODE'>().not.toMatchTypeOf<ChatErrorCode>();
// @ts-expect-error: not a code
const wrong: ChatErrorCode = 'FORBIDEN';
void wrong;

async function flows(): Promise<void> {
  const conv = await client.join('c1', { since: 0 });
  expectTypeOf(conv).toEqualTypeOf<Conversation>();
  expectTypeOf(conv.send('hi')).toEqualTypeOf<Promise<SendReceipt>>();
  expectTypeOf(await conv.send('hi', { clientMsgId: 'my-id' })).toEqualTypeOf<SendReceipt>();
  expectTypeOf(await conv.history({ before: 10, limit: 50 })).toEqualTypeOf<HistoryPage>();
  expectTypeOf(conv.typing).parameter(0).toBeBoolean();
  // @ts-expect-error: send takes text, not a frame
  await conv.send({ text: 'hi' });
  // @ts-expect-error: since is a seq number
  await client.join('c1', { since: 'yesterday' });
  // @ts-expect-error: history options are before/limit
  await conv.history({ after: 3 });
  try {
    await conv.send('x');
  } catch (err) {
    if (err instanceof ChatError) {
      expectTypeOf(err.code).toEqualTypeOf<ChatErrorCode>();
      expectTypeOf(err.retryable).toBeBoolean();
      expectTypeOf(err.closeCode).toEqualTypeOf<number | undefined>();
    }
  }
}
void flows;
