/**
 * The bus carries committed messages and ephemeral events (typing) between the connections of a conversation,
 * across nodes when it is Redis. It is only the fast path: a message lost on the bus is found in the store by the
 * receiver's gap check, so the bus never needs to be reliable, only fast. It carries ciphertext, never text.
 */
import type { Member, Role } from '@therapy-chat/protocol';
import type { AppointmentStatus, StoredMessage } from '../store/store.js';

/**
 * The channel every node subscribes to for node-wide events: those addressed to users rather than conversations (a
 * user may be connected to any node, joined to nothing: risk alerts, `user-revoked`) and `access-changed`. Conversation ids are `[A-Za-z0-9_-]`,
 * so it names no conversation.
 */
export const NODE_CHANNEL = '~node';

export type BusEvent =
  | { readonly kind: 'message'; readonly message: StoredMessage }
  /**
   * On {@link NODE_CHANNEL}: a user's connections end on every node, all of them (`disabled`) or, with `sessionId`,
   * those of one login session (`logged-out`).
   */
  | {
      readonly kind: 'user-revoked';
      readonly userId: string;
      readonly reason: 'disabled' | 'logged-out';
      readonly sessionId?: string;
    }
  /** The conversation's last seq is at least `seq`: sent after messages may have been lost on the way. */
  | { readonly kind: 'head'; readonly conv: string; readonly seq: number }
  /**
   * On `NODE_CHANNEL`: a patient's message matched the risk screen. Every node alerts the `recipients` (the case's
   * therapist and supervisor) on every connection they have there. No text, no patient identity.
   */
  | {
      readonly kind: 'risk-alert';
      readonly recipients: readonly string[];
      readonly conv: string;
      readonly seq: number;
      readonly caseId: string;
      readonly level: 'high' | 'medium';
      readonly category: string;
      readonly ts: number;
    }
  /** The conversation's appointment moved to `status` at `ts`: members are told, and their cached status moves on. */
  | {
      readonly kind: 'appointment';
      readonly conv: string;
      readonly appointmentId: string;
      readonly status: AppointmentStatus;
      readonly ts: number;
    }
  /** Who is connected to the conversation on one node; sent when it changes and every few seconds. */
  | { readonly kind: 'presence'; readonly conv: string; readonly node: string; readonly members: readonly Member[] }
  /** A node that just started following the conversation asks the others for their presence. */
  | { readonly kind: 'presence-query'; readonly conv: string; readonly node: string }
  /**
   * Node-wide, on `NODE_CHANNEL`: a case's access facts changed (assignment, discharge, restriction, appointment
   * state); every node re-decides its live subscriptions to the case's conversations.
   */
  | { readonly kind: 'access-changed'; readonly caseId: string }
  | {
      readonly kind: 'typing';
      readonly conv: string;
      readonly user: string;
      readonly role: Role;
      readonly active: boolean;
      /** The connection it came from, so it is not echoed back. */
      readonly origin: string;
    };

export type BusHandler = (conv: string, event: BusEvent) => void;

export interface Bus {
  /** False while the bus cannot deliver (Redis disconnected); readiness reports it. */
  readonly healthy: boolean;
  /**
   * Registers a listener called when events may have been lost (the bus reconnected after a drop). Every local
   * subscriber should then check the store for what it missed.
   */
  onResync(listener: () => void): void;
  /** Delivers to every subscriber of `conv`, on every node. Never throws; failures are logged and counted. */
  publish(conv: string, event: BusEvent): void;
  /** Resolves once events published after it are sure to reach `handler`. */
  subscribe(conv: string, handler: BusHandler): Promise<void>;
  unsubscribe(conv: string, handler: BusHandler): Promise<void>;
  close(): Promise<void>;
}
