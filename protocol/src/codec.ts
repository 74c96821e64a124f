/**
 * Codecs, negotiated by WebSocket subprotocol. msgpack is the default; JSON is there for debugging with ordinary tools.
 * A codec turns bytes into an untrusted value (see `validate.ts`) and frames into bytes. Decoding never trusts its
 * input: anything it cannot decode throws a `DecodeError`.
 */
import { type Options, Packr } from 'msgpackr';

export const MSGPACK_SUBPROTOCOL = 'therapy-chat.v1.msgpack';
export const JSON_SUBPROTOCOL = 'therapy-chat.v1.json';
export type Subprotocol = typeof MSGPACK_SUBPROTOCOL | typeof JSON_SUBPROTOCOL;
/** In order of preference: a server picks the first one the client offers; a client with no preference gets msgpack. */
export const SUBPROTOCOLS: readonly Subprotocol[] = [MSGPACK_SUBPROTOCOL, JSON_SUBPROTOCOL];
export const DEFAULT_SUBPROTOCOL: Subprotocol = MSGPACK_SUBPROTOCOL;

export class DecodeError extends Error {
  override readonly name = 'DecodeError';
}

export interface Codec {
  readonly subprotocol: Subprotocol;
  /** True when frames travel as binary WebSocket messages, false for text messages. */
  readonly binary: boolean;
  encode(frame: object): Uint8Array | string;
  /** @throws DecodeError */
  decode(data: Uint8Array | string): unknown;
}

// Plain msgpack only: no records, no structured clone, no msgpackr-specific extensions on the way out, so that any
// msgpack library can speak the protocol. Maps decode to plain objects.
// `undefined` is not msgpack: msgpackr would write it as its own extension (fixext 1, type 0). Like JSON.stringify,
// skip object members whose value is undefined and write undefined array elements as nil. (`skipValues` is a
// documented msgpackr option missing from its typings, hence the wider type.)
const packrOptions: Options & { skipValues: readonly unknown[] } = {
  useRecords: false,
  moreTypes: false,
  structuredClone: false,
  bundleStrings: false,
  mapsAsObjects: true,
  int64AsType: 'number',
  skipValues: [undefined],
  encodeUndefinedAsNil: true,
};
const packr = new Packr(packrOptions);

const textDecoder = new TextDecoder('utf-8', { fatal: true });

export const msgpackCodec: Codec = {
  subprotocol: MSGPACK_SUBPROTOCOL,
  binary: true,
  encode(frame) {
    return packr.pack(frame);
  },
  decode(data) {
    if (typeof data === 'string') throw new DecodeError('expected a binary frame for msgpack');
    try {
      return packr.unpack(data) as unknown;
    } catch (err) {
      throw new DecodeError(`not valid msgpack: ${describe(err)}`);
    }
  },
};

export const jsonCodec: Codec = {
  subprotocol: JSON_SUBPROTOCOL,
  binary: false,
  encode(frame) {
    return JSON.stringify(frame);
  },
  decode(data) {
    let text: string;
    try {
      text = typeof data === 'string' ? data : textDecoder.decode(data);
    } catch {
      throw new DecodeError('not valid UTF-8');
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new DecodeError(`not valid JSON: ${describe(err)}`);
    }
  },
};

const CODECS: Readonly<Record<Subprotocol, Codec>> = {
  [MSGPACK_SUBPROTOCOL]: msgpackCodec,
  [JSON_SUBPROTOCOL]: jsonCodec,
};

export function codecFor(subprotocol: Subprotocol): Codec {
  return CODECS[subprotocol];
}

export function isSubprotocol(value: unknown): value is Subprotocol {
  return value === MSGPACK_SUBPROTOCOL || value === JSON_SUBPROTOCOL;
}

/** The subprotocol a server should pick from those a client offers, or undefined when it supports none of them. */
export function negotiateSubprotocol(offered: Iterable<string>): Subprotocol | undefined {
  const set = new Set(offered);
  if (set.size === 0) return DEFAULT_SUBPROTOCOL;
  return SUBPROTOCOLS.find((p) => set.has(p));
}

const LONE_SURROGATES = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

// The message goes back to the client in a BAD_FRAME error. msgpackr and V8 quote the input in theirs, and cutting it
// may split a surrogate pair: replace lone surrogates, which msgpack would have to write as invalid UTF-8.
function describe(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return (msg.length > 120 ? `${msg.slice(0, 120)}…` : msg).replace(LONE_SURROGATES, '\uFFFD');
}
