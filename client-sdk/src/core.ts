/** Everything that runs the same in browsers and in Node. The entry points (`index.ts`, `browser.ts`) add `createClient`. */
export { ChatClient, type ClientOptions, type ClientStats, type SessionInfo } from './client.js';
/** Time-ordered client message ids, as the client makes them (see `@therapy-chat/protocol`). */
export { newClientMsgId } from '@therapy-chat/protocol';
export {
  Conversation,
  type HistoryOptions,
  type HistoryPage,
  type JoinOptions,
  type SendOptions,
  type SendReceipt,
} from './conversation.js';
export {
  ChatError,
  describeCode,
  isChatError,
  SDK_ERROR_CODES,
  type ChatErrorCategory,
  type ChatErrorCode,
  type ChatErrorDetails,
  type SdkErrorCode,
} from './errors.js';
export type {
  AppointmentEvent,
  ClientEvents,
  ConversationEvents,
  CrisisResourcesEvent,
  ErrorEvent,
  Listener,
  ListenerErrorHandler,
  LoggedOutEvent,
  MessageEvent,
  PresenceEvent,
  RevokedEvent,
  RestoredEvent,
  RiskAlertEvent,
  StateEvent,
  TypingEvent,
} from './events.js';
export type { ConnectionState } from './state.js';
export { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export type { HeartbeatOptions } from './heartbeat.js';
export {
  webSocketTransport,
  type Transport,
  type TransportEvents,
  type TransportFactory,
  type WebSocketConstructorLike,
  type WebSocketLike,
} from './transport.js';
export { outboxKey, sortOutbox, type Outbox, type OutboxEntry } from './outbox.js';
export { MemoryOutbox } from './outbox-memory.js';
export { IndexedDbOutbox, type IndexedDbOutboxOptions } from './outbox-indexeddb.js';
// The protocol types an app meets through the SDK.
export {
  CLOSE_CODES,
  ERROR_CODES,
  type ChatMessage,
  type CloseCodeName,
  type ErrorCode,
  type Limits,
  type Member,
  type Role,
} from '@therapy-chat/protocol';
