/**
 * Requests that expect an answer carrying their `id` (auth, join, leave, history). A request may go out more than
 * once: after `RATE_LIMITED` the server does not say which frame it dropped, so every request still unanswered is sent
 * again under a new id. Whichever attempt is answered first settles the request; an error answer settles it only when
 * no other attempt is still out (the other attempt may be the one the server actually processed).
 */
import { MAX_REQUEST_ID, type ServerFrame } from '@therapy-chat/protocol';
import { ChatError } from './errors.js';

/** Called once with the answer or the error. Synchronously, as the answer is read: a `joined` must take effect before
 * the `msg` frames that follow it in the same read are handled. */
export type Settle = (outcome: ServerFrame | ChatError) => void;

interface Pending {
  readonly frame: Readonly<Record<string, unknown>>;
  readonly attempts: Set<number>;
  readonly settle: Settle;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class Requests {
  private last = 0;
  private readonly byId = new Map<number, Pending>();

  /** A fresh request id (also used for `send` frames, which conversations track themselves). */
  nextId(): number {
    this.last = this.last >= MAX_REQUEST_ID ? 1 : this.last + 1;
    return this.last;
  }

  /** Sends `frame` with a fresh id through `write`; `settle` gets the answer (or its error, or a timeout). */
  issue(
    frame: Readonly<Record<string, unknown>>,
    write: (frame: Readonly<Record<string, unknown>>) => void,
    timeoutMs: number,
    settle: Settle,
  ): void {
    const id = this.nextId();
    const pending: Pending = { frame, attempts: new Set([id]), settle, timer: undefined };
    if (timeoutMs > 0 && Number.isFinite(timeoutMs)) {
      pending.timer = setTimeout(
        () =>
          this.settle(
            pending,
            new ChatError('TIMEOUT', `no answer to \`${String(frame['type'])}\` within ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
    }
    this.byId.set(id, pending);
    write({ ...frame, id });
  }

  /** `issue`, as a promise. */
  request<T extends ServerFrame>(
    frame: Readonly<Record<string, unknown>>,
    write: (frame: Readonly<Record<string, unknown>>) => void,
    timeoutMs: number,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) =>
      this.issue(frame, write, timeoutMs, (outcome) =>
        outcome instanceof ChatError ? reject(outcome) : resolve(outcome as T),
      ),
    );
  }

  /** Routes an answer; false when no request is waiting for its id. */
  answer(frame: ServerFrame & { id?: number }): boolean {
    if (frame.id === undefined) return false;
    const pending = this.byId.get(frame.id);
    if (!pending) return false;
    if (frame.type === 'error') {
      pending.attempts.delete(frame.id);
      this.byId.delete(frame.id);
      if (pending.attempts.size === 0) this.settle(pending, ChatError.fromFrame(frame));
      return true;
    }
    this.settle(pending, frame);
    return true;
  }

  /** Sends every unanswered request again under a new id (after `RATE_LIMITED`). */
  resendAll(write: (frame: Readonly<Record<string, unknown>>) => void): void {
    for (const pending of new Set(this.byId.values())) {
      const id = this.nextId();
      pending.attempts.add(id);
      this.byId.set(id, pending);
      write({ ...pending.frame, id });
    }
  }

  /** Rejects every request (the connection is gone, or the client closed). */
  failAll(error: ChatError): void {
    for (const pending of new Set(this.byId.values())) this.settle(pending, error);
  }

  get size(): number {
    return new Set(this.byId.values()).size;
  }

  private settle(pending: Pending, outcome: ServerFrame | ChatError): void {
    for (const id of pending.attempts) this.byId.delete(id);
    pending.attempts.clear();
    clearTimeout(pending.timer);
    pending.settle(outcome);
  }
}
