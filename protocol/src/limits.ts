/**
 * Named limits with their defaults. The server enforces them (operators may change them through config) and tells
 * each client the values in force in its `welcome` frame.
 */
export interface Limits {
  /** Largest frame the server processes, in bytes. Up to twice this is answered with `FRAME_TOO_LARGE`; beyond that the connection is closed with 1009. Default 65,536. */
  readonly maxFrameBytes: number;
  /** Longest message text, in Unicode code points. Default 10,000. */
  readonly maxTextLength: number;
  /** Sustained frames per second per connection (token bucket refill rate). Default 20. */
  readonly framesPerSecond: number;
  /** Frames a connection may send in a burst above the sustained rate (token bucket size). Default 40. */
  readonly frameBurst: number;
  /** Conversations one connection may have joined at once. Default 10. */
  readonly maxConversationsPerConnection: number;
  /** Most messages in one `history` page. Default 100. */
  readonly maxHistoryPage: number;
  /** Longest `clientMsgId`, in characters (printable ASCII). Default 64. */
  readonly maxClientMsgIdLength: number;
}

export const DEFAULT_LIMITS: Limits = Object.freeze({
  maxFrameBytes: 64 * 1024,
  maxTextLength: 10_000,
  framesPerSecond: 20,
  frameBurst: 40,
  maxConversationsPerConnection: 10,
  maxHistoryPage: 100,
  maxClientMsgIdLength: 64,
});

/** Longest conversation id, in characters. Ids are `[A-Za-z0-9_-]`. */
export const MAX_CONVERSATION_ID_LENGTH = 64;
/** Longest token accepted in an `auth` frame, in characters. */
export const MAX_TOKEN_LENGTH = 8 * 1024;
/** Largest request id (`id`), so that it fits every codec's integer types. */
export const MAX_REQUEST_ID = 2 ** 31 - 1;
