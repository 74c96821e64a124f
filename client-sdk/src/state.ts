/**
 * The connection state machine. Every change goes through `set`, which checks the transition and emits the old and
 * the new state once:
 *
 *     disconnected ──connect()──▶ connecting ──welcome──▶ connected
 *          ▲                          │                       │
 *          └──────── drop (will retry) ┴───────────────────────┘
 *     any ──close() or a terminal close code──▶ closed (final)
 */
export type ConnectionState = 'disconnected' | 'connecting' | 'connected' | 'closed';

const TRANSITIONS: Readonly<Record<ConnectionState, readonly ConnectionState[]>> = {
  disconnected: ['connecting', 'closed'],
  connecting: ['connected', 'disconnected', 'closed'],
  connected: ['disconnected', 'closed'],
  closed: [],
};

export class IllegalTransitionError extends Error {
  override readonly name = 'IllegalTransitionError';
}

export class StateMachine<Details> {
  private current: ConnectionState = 'disconnected';

  constructor(
    private readonly onChange: (previous: ConnectionState, current: ConnectionState, details: Details) => void,
  ) {}

  get state(): ConnectionState {
    return this.current;
  }

  can(next: ConnectionState): boolean {
    return TRANSITIONS[this.current].includes(next);
  }

  /** Moves to `next` and emits the change. @throws IllegalTransitionError for a transition the diagram lacks. */
  set(next: ConnectionState, details: Details): void {
    const previous = this.current;
    if (!this.can(next)) throw new IllegalTransitionError(`connection state cannot go from ${previous} to ${next}`);
    this.current = next;
    this.onChange(previous, next, details);
  }
}
