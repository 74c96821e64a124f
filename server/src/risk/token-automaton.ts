/**
 * Aho–Corasick over tokens: finds which of many token sequences occur in a token list in one pass, whatever the
 * number of patterns. Each step is one Map lookup plus failure transitions, so a message costs time in proportion
 * to its length. Built once when the phrase list loads.
 */

interface AutomatonNode<T> {
  readonly next: Map<string, number>;
  fail: number;
  /** The best value among the patterns ending here, including (through the failure links) those that are suffixes. */
  best: T | undefined;
  bestRank: number;
  /** Insertion order of `best`, to break rank ties in favour of the pattern listed first. */
  bestOrder: number;
}

export class TokenAutomaton<T> {
  private readonly nodes: AutomatonNode<T>[] = [];
  private readonly topRank: number;

  /**
   * @param patterns token sequences (non-empty) with the value each stands for; listed order breaks rank ties.
   * @param rank how serious a value is; a larger number wins.
   */
  constructor(patterns: Iterable<readonly [readonly string[], T]>, rank: (value: T) => number) {
    this.nodes.push(TokenAutomaton.node());
    let order = 0;
    let topRank = -Infinity;
    for (const [tokens, value] of patterns) {
      if (tokens.length === 0) throw new Error('an automaton pattern needs at least one token');
      let state = 0;
      for (const token of tokens) {
        const node = this.nodes[state]!;
        let next = node.next.get(token);
        if (next === undefined) {
          next = this.nodes.length;
          this.nodes.push(TokenAutomaton.node());
          node.next.set(token, next);
        }
        state = next;
      }
      const end = this.nodes[state]!;
      const r = rank(value);
      topRank = Math.max(topRank, r);
      if (end.best === undefined || r > end.bestRank) {
        end.best = value;
        end.bestRank = r;
        end.bestOrder = order;
      }
      order++;
    }
    this.topRank = topRank;
    this.linkFailures();
  }

  private static node<T>(): AutomatonNode<T> {
    return { next: new Map(), fail: 0, best: undefined, bestRank: -Infinity, bestOrder: Infinity };
  }

  /** Breadth first, so that a node's failure target is complete before the node inherits from it. */
  private linkFailures(): void {
    // The root's children keep failure 0, the root.
    const queue: number[] = [...this.nodes[0]!.next.values()];
    for (let head = 0; head < queue.length; head++) {
      const node = this.nodes[queue[head]!]!;
      const inherited = this.nodes[node.fail]!;
      if (
        inherited.best !== undefined &&
        (inherited.bestRank > node.bestRank ||
          (inherited.bestRank === node.bestRank && inherited.bestOrder < node.bestOrder))
      ) {
        node.best = inherited.best;
        node.bestRank = inherited.bestRank;
        node.bestOrder = inherited.bestOrder;
      }
      for (const [token, child] of node.next) {
        let f = node.fail;
        let target = this.nodes[f]!.next.get(token);
        while (target === undefined && f !== 0) {
          f = this.nodes[f]!.fail;
          target = this.nodes[f]!.next.get(token);
        }
        this.nodes[child]!.fail = target ?? 0;
        queue.push(child);
      }
    }
  }

  /**
   * The highest-ranked value whose pattern occurs in `tokens` as a contiguous run; among equal ranks, the one that
   * ends first in the text. Stops at the first match of the top rank.
   */
  bestMatch(tokens: readonly string[]): T | undefined {
    const nodes = this.nodes;
    let state = 0;
    let best: T | undefined;
    let bestRank = -Infinity;
    for (const token of tokens) {
      let next = nodes[state]!.next.get(token);
      while (next === undefined && state !== 0) {
        state = nodes[state]!.fail;
        next = nodes[state]!.next.get(token);
      }
      state = next ?? 0;
      const node = nodes[state]!;
      if (node.best !== undefined && node.bestRank > bestRank) {
        best = node.best;
        bestRank = node.bestRank;
        if (bestRank >= this.topRank) break;
      }
    }
    return best;
  }
}
