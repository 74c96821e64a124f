/** The in-process bus of the embedded default: one node, delivery by direct call. */
import type { Bus, BusEvent, BusHandler } from './bus.js';

export class MemoryBus implements Bus {
  private readonly handlers = new Map<string, Set<BusHandler>>();
  readonly healthy = true;

  /** In-process delivery loses nothing, so there is never a resync. */
  onResync(_listener: () => void): void {}

  publish(conv: string, event: BusEvent): void {
    const set = this.handlers.get(conv);
    if (!set) return;
    for (const handler of set) handler(conv, event);
  }

  async subscribe(conv: string, handler: BusHandler): Promise<void> {
    let set = this.handlers.get(conv);
    if (!set) this.handlers.set(conv, (set = new Set()));
    set.add(handler);
  }

  async unsubscribe(conv: string, handler: BusHandler): Promise<void> {
    const set = this.handlers.get(conv);
    if (!set) return;
    set.delete(handler);
    if (set.size === 0) this.handlers.delete(conv);
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }
}
