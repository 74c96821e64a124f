/**
 * The Node entry point of `@therapy-chat/client-sdk`: everything in `core.ts`, plus `FileOutbox`, and a
 * `createClient` that speaks WebSocket through `ws` (Node 20 has no global WebSocket).
 */
import { WebSocket } from 'ws';
import { ChatClient, type ClientOptions } from './client.js';
import type { WebSocketConstructorLike } from './transport.js';

export * from './core.js';
export { FileOutbox } from './outbox-file.js';

/** Creates a client. Nothing happens on the network until `connect()`. */
export function createClient(options: ClientOptions): ChatClient {
  return new ChatClient({ WebSocket: WebSocket as unknown as WebSocketConstructorLike, ...options });
}
