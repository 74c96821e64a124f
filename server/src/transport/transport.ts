/**
 * The seam between the chat logic and the WebSocket library. `ws` is the default implementation; a faster one
 * (uWebSockets.js) can implement the same interface without the chat code changing.
 */
import type { Server as HttpServer } from 'node:http';
import type { Subprotocol } from '@therapy-chat/protocol';

export interface TransportConnection {
  /** The negotiated subprotocol (codec). */
  readonly subprotocol: Subprotocol;
  readonly remoteAddress: string;
  readonly userAgent: string;
  /** Bytes queued for sending and not yet handed to the kernel. */
  readonly bufferedAmount: number;
  send(data: Uint8Array | string): void;
  /** Closes with a close frame; pending data is sent first. */
  close(code: number, reason: string): void;
  /** Drops the connection at once, without a close frame. */
  terminate(): void;
}

export interface ConnectionEvents {
  message(data: Uint8Array): void;
  close(code: number): void;
}

export type ConnectionListener = (conn: TransportConnection) => ConnectionEvents;

export interface TransportOptions {
  /** URL path that accepts WebSocket upgrades. */
  readonly path: string;
  /** Frames larger than this close the connection with 1009 before they are read. */
  readonly hardMaxFrameBytes: number;
}

export interface Transport {
  attach(server: HttpServer, options: TransportOptions, listener: ConnectionListener): void;
  /** Refuses new upgrades from now on (shutdown). Open connections are untouched. */
  stopAccepting(): void;
  close(): Promise<void>;
}
