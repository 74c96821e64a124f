/**
 * JSON logs through pino. Clinical text and credentials are never logged: the code does not pass them to the logger,
 * and these redaction paths catch the fields where they would appear if it ever did.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

export const REDACT_PATHS = [
  'token',
  '*.token',
  'text',
  '*.text',
  '*.*.text',
  'frame',
  '*.frame',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'password',
  '*.password',
];

interface LoggedRequest {
  readonly method?: string;
  readonly url?: string;
  readonly id?: unknown;
  readonly ip?: string;
  readonly socket?: { readonly remoteAddress?: string };
}

/** Requests are logged without their query string: a client could put a token there. */
function serializeRequest(req: LoggedRequest) {
  return {
    id: req.id,
    method: req.method,
    path: typeof req.url === 'string' ? req.url.split('?')[0] : undefined,
    remoteAddress: req.ip ?? req.socket?.remoteAddress,
  };
}

function serializeResponse(res: { readonly statusCode?: number }) {
  return { statusCode: res.statusCode };
}

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'therapy-chat' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { req: serializeRequest, res: serializeResponse, err: pino.stdSerializers.err },
    },
    destination,
  );
}
