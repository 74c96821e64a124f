/**
 * argon2id password hashing (libsodium's `crypto_pwhash_str`, interactive limits: 2 passes over 64 MiB) on a small
 * pool of worker threads. One hash costs ~100–200 ms of CPU; on the event loop it would stall every live
 * conversation of the node, so it never runs there. The queue in front of the pool is bounded: past it a login is
 * refused at once (`PasswordHasherBusyError`) rather than queued without end.
 */
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Default workers: the cores, at most 2 (a login burst must not take every core from live chat). */
export const DEFAULT_HASH_WORKERS = Math.max(1, Math.min(2, availableParallelism()));
/** Default longest queue of hash/verify jobs waiting for a worker. */
export const DEFAULT_HASH_QUEUE = 64;

export class PasswordHasherBusyError extends Error {
  override readonly name = 'PasswordHasherBusyError';
}

type Job =
  | { readonly op: 'hash'; readonly password: string }
  | { readonly op: 'verify'; readonly password: string; readonly hash: string };

interface Pending {
  readonly job: Job;
  resolve(value: string | boolean): void;
  reject(err: Error): void;
}

// Plain JavaScript evaluated in the worker, so it runs the same from the TypeScript sources (tests) and from dist/.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const sodium = require(workerData.sodiumPath);
sodium.ready.then(() => {
  parentPort.on('message', (job) => {
    try {
      if (job.op === 'hash') {
        const hash = sodium.crypto_pwhash_str(
          job.password,
          sodium.crypto_pwhash_OPSLIMIT_INTERACTIVE,
          sodium.crypto_pwhash_MEMLIMIT_INTERACTIVE,
        );
        parentPort.postMessage({ ok: true, value: hash });
      } else {
        let ok = false;
        try { ok = sodium.crypto_pwhash_str_verify(job.hash, job.password); } catch { ok = false; }
        parentPort.postMessage({ ok: true, value: ok });
      }
    } catch (err) {
      parentPort.postMessage({ ok: false, error: String(err && err.name || 'Error') });
    }
  });
  parentPort.postMessage({ ready: true });
});
`;

interface Slot {
  readonly worker: Worker;
  busy: Pending | undefined;
}

export interface PasswordHasherOptions {
  /** Worker threads. Default {@link DEFAULT_HASH_WORKERS}. */
  readonly workers?: number;
  /** Longest wait queue; past it `PasswordHasherBusyError`. Default {@link DEFAULT_HASH_QUEUE}. */
  readonly maxQueue?: number;
}

export class PasswordHasher {
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private readonly maxQueue: number;
  private readonly size: number;
  private closed = false;

  constructor(options: PasswordHasherOptions = {}) {
    this.size = options.workers ?? DEFAULT_HASH_WORKERS;
    this.maxQueue = options.maxQueue ?? DEFAULT_HASH_QUEUE;
  }

  /** An argon2id hash in libsodium's string format (`$argon2id$v=19$m=65536,t=2,p=1$…`). */
  hash(password: string): Promise<string> {
    return this.run({ op: 'hash', password }) as Promise<string>;
  }

  /** Whether `password` matches `hash`; false (never a throw) for a malformed hash. */
  verify(password: string, hash: string): Promise<boolean> {
    return this.run({ op: 'verify', password, hash }) as Promise<boolean>;
  }

  /** Jobs waiting for a worker. */
  get queued(): number {
    return this.queue.length;
  }

  private run(job: Job): Promise<string | boolean> {
    if (this.closed) return Promise.reject(new Error('the password hasher is closed'));
    return new Promise((resolve, reject) => {
      const pending: Pending = { job, resolve, reject };
      const idle = this.idleSlot();
      if (idle) return this.dispatch(idle, pending);
      if (this.queue.length >= this.maxQueue) {
        reject(new PasswordHasherBusyError('too many password checks are waiting'));
        return;
      }
      this.queue.push(pending);
    });
  }

  private idleSlot(): Slot | undefined {
    const free = this.slots.find((s) => !s.busy);
    if (free) return free;
    if (this.slots.length < this.size) return this.spawn();
    return undefined;
  }

  private spawn(): Slot {
    const sodiumPath = createRequire(import.meta.url).resolve('libsodium-wrappers-sumo');
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { sodiumPath } });
    // Idle workers must not keep the process alive.
    worker.unref();
    const slot: Slot = { worker, busy: undefined };
    worker.on('message', (msg: { ready?: true; ok?: boolean; value?: string | boolean; error?: string }) => {
      if (msg.ready) return;
      const done = slot.busy;
      slot.busy = undefined;
      if (done) {
        if (msg.ok) done.resolve(msg.value!);
        else done.reject(new Error(`password hashing failed: ${msg.error}`));
      }
      this.next(slot);
    });
    worker.on('error', (err) => this.lose(slot, err));
    worker.on('exit', () => this.lose(slot, new Error('password worker exited')));
    this.slots.push(slot);
    return slot;
  }

  /** A worker died: fail its job (never another's), forget it, and let the next job start a new one. */
  private lose(slot: Slot, err: Error): void {
    const i = this.slots.indexOf(slot);
    if (i < 0) return;
    this.slots.splice(i, 1);
    slot.busy?.reject(err);
    slot.busy = undefined;
    const waiting = this.queue.shift();
    if (waiting && !this.closed) this.dispatch(this.idleSlot()!, waiting);
  }

  private dispatch(slot: Slot, pending: Pending): void {
    slot.busy = pending;
    slot.worker.ref();
    slot.worker.postMessage(pending.job);
  }

  private next(slot: Slot): void {
    const waiting = this.queue.shift();
    if (waiting) this.dispatch(slot, waiting);
    else slot.worker.unref();
  }

  /** Stops the workers; queued jobs are refused. */
  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new Error('the password hasher is closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

let shared: PasswordHasher | undefined;

/**
 * The process's pool: hashing is CPU-bound, so every server in one process (tests run several) shares the same
 * workers instead of each bringing its own.
 */
export function sharedPasswordHasher(): PasswordHasher {
  shared ??= new PasswordHasher();
  return shared;
}
