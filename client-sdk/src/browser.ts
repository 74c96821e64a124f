/**
 * The browser entry point (`@therapy-chat/client-sdk/browser`, and the bundle `dist/browser/therapy-chat.js`):
 * everything in `core.ts`, with the browser's own `WebSocket`. No Node built-ins.
 */
import { ChatClient, type ClientOptions } from './client.js';

export * from './core.js';

/** Creates a client. Nothing happens on the network until `connect()`. */
export function createClient(options: ClientOptions): ChatClient {
  return new ChatClient(options);
}
