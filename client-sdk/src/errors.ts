/**
 * One error type for everything the SDK rejects or reports: `ChatError`, with a stable `code`. Codes come from three
 * places, all listed in the README: the protocol's error frames (`ERROR_CODES`), the protocol's close codes
 * (`CLOSE_CODES`, by name) when the server ends the connection for good, and the SDK's own (`SDK_ERROR_CODES`).
 */
import {
  CLOSE_CODES,
  ERROR_CODES,
  isErrorCode,
  type CloseCodeName,
  type ErrorCategory,
  type ErrorCode,
  type ErrorFrame,
} from '@therapy-chat/protocol';

export const SDK_ERROR_CODES = {
  CLIENT_CLOSED: {
    category: 'client',
    retryable: false,
    description:
      '`client.close()` was called before this finished. An unacknowledged message stays in the outbox (if the outbox is durable) and goes out the next time its conversation is joined.',
  },
  LEFT: {
    category: 'client',
    retryable: false,
    description:
      '`conversation.leave()` was called before the message was acknowledged. It stays in the outbox and goes out the next time the conversation is joined.',
  },
  TIMEOUT: {
    category: 'client',
    retryable: true,
    description:
      'No answer within `requestTimeoutMs` (joins and history; sends never time out, they wait in the outbox).',
  },
  DISCONNECTED: {
    category: 'client',
    retryable: true,
    description: 'The connection dropped before the answer came. Used internally; the SDK retries by itself.',
  },
  TOKEN_PROVIDER_FAILED: {
    category: 'auth',
    retryable: true,
    description:
      '`getToken()` threw or returned something that is not a non-empty string. The SDK retries with backoff.',
  },
  CONNECTION_CLOSED: {
    category: 'connection',
    retryable: false,
    description:
      'The server closed the connection with a terminal close code it did not name (see `closeCode`); the client does not reconnect.',
  },
  RECONNECT_GAVE_UP: {
    category: 'connection',
    retryable: false,
    description: '`backoff.maxAttempts` connection attempts in a row failed; the client is closed.',
  },
  OUTBOX_FAILED: {
    category: 'client',
    retryable: false,
    description:
      'The outbox store could not save the message, so it was not sent (for example, IndexedDB is full or blocked).',
  },
} as const;

export type SdkErrorCode = keyof typeof SDK_ERROR_CODES;

/** Every `code` a `ChatError` can carry. */
export type ChatErrorCode = ErrorCode | CloseCodeName | SdkErrorCode;

export type ChatErrorCategory = ErrorCategory | 'client' | 'connection';

export interface ChatErrorDetails {
  readonly conv?: string;
  readonly clientMsgId?: string;
  /** For `RATE_LIMITED`. */
  readonly retryAfterMs?: number;
  /** The WebSocket close code, when the error ended the connection. */
  readonly closeCode?: number;
  readonly cause?: unknown;
}

export class ChatError extends Error {
  override readonly name = 'ChatError';
  readonly category: ChatErrorCategory;
  /** True when the same thing may succeed later, unchanged. */
  readonly retryable: boolean;
  readonly conv: string | undefined;
  readonly clientMsgId: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly closeCode: number | undefined;

  constructor(
    readonly code: ChatErrorCode,
    message: string,
    details: ChatErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    const info = describeCode(code);
    this.category = info.category;
    this.retryable = info.retryable;
    this.conv = details.conv;
    this.clientMsgId = details.clientMsgId;
    this.retryAfterMs = details.retryAfterMs;
    this.closeCode = details.closeCode;
  }

  /** From an `error` frame sent by the server. */
  static fromFrame(frame: ErrorFrame): ChatError {
    const code: ChatErrorCode = isErrorCode(frame.code) ? frame.code : 'INTERNAL';
    return new ChatError(code, frame.message, {
      conv: frame.conv,
      clientMsgId: frame.clientMsgId,
      retryAfterMs: frame.retryAfterMs,
    });
  }

  /** For a close code the client will not reconnect after. */
  static fromClose(closeCode: number, reason: string): ChatError {
    const named = (Object.keys(CLOSE_CODES) as CloseCodeName[]).find((n) => CLOSE_CODES[n].code === closeCode);
    const text = reason || (named ? CLOSE_CODES[named].description : `closed with code ${closeCode}`);
    return new ChatError(named ?? 'CONNECTION_CLOSED', text, { closeCode });
  }
}

/** What a code means: its category, whether it is retryable, and its description. */
export function describeCode(code: ChatErrorCode): {
  category: ChatErrorCategory;
  retryable: boolean;
  description: string;
} {
  if (code in SDK_ERROR_CODES) return SDK_ERROR_CODES[code as SdkErrorCode];
  if (code in ERROR_CODES) return ERROR_CODES[code as ErrorCode];
  const close = CLOSE_CODES[code as CloseCodeName];
  return { category: 'connection', retryable: close.action !== 'stop', description: close.description };
}

export function isChatError(value: unknown): value is ChatError {
  return value instanceof ChatError;
}
