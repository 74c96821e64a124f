import { describe, expect, it } from 'vitest';
import { IllegalTransitionError, StateMachine, type ConnectionState } from './state.js';

describe('the connection state machine', () => {
  it('emits each change once with the old and new state', () => {
    const seen: string[] = [];
    const m = new StateMachine<string>((from, to, why) => seen.push(`${from}->${to} (${why})`));
    m.set('connecting', 'connect()');
    m.set('connected', 'welcome');
    m.set('disconnected', 'dropped');
    m.set('connecting', 'retry');
    m.set('closed', 'close()');
    expect(seen).toEqual([
      'disconnected->connecting (connect())',
      'connecting->connected (welcome)',
      'connected->disconnected (dropped)',
      'disconnected->connecting (retry)',
      'connecting->closed (close())',
    ]);
  });

  it('refuses transitions the diagram lacks, and closed is final', () => {
    const m = new StateMachine<null>(() => {});
    expect(() => m.set('connected', null)).toThrow(IllegalTransitionError);
    m.set('closed', null);
    for (const s of ['disconnected', 'connecting', 'connected', 'closed'] as ConnectionState[]) {
      expect(() => m.set(s, null)).toThrow(IllegalTransitionError);
    }
  });
});
