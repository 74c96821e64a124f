/**
 * Per-case data keys (DEKs): created with the case, stored wrapped by a KEK, unwrapped into memory when a
 * conversation of the case is first used, and then used synchronously by the message sealer.
 */
import { randomBytes } from 'node:crypto';
import type { Store, StoredMessage, MessageSealer } from '../store/store.js';
import { aad, KEY_BYTES, open, seal } from './aead.js';
import type { KeyProvider } from './key-provider.js';
import { newId } from '../ids.js';

export class KeyNotLoadedError extends Error {
  override readonly name = 'KeyNotLoadedError';
}

export class DataKeyRing implements MessageSealer {
  private readonly byId = new Map<string, Buffer>();
  /** The key new text of a case is sealed with: its newest key. */
  private readonly currentByCase = new Map<string, string>();
  private readonly loading = new Map<string, Promise<void>>();

  constructor(
    private readonly store: Pick<Store, 'dataKeysForCase' | 'insertDataKey'>,
    private readonly provider: KeyProvider,
  ) {}

  /** Creates, wraps and stores the data key of a new case. */
  async createForCase(caseId: string): Promise<string> {
    const id = newId('dek');
    const dek = randomBytes(KEY_BYTES);
    const wrapped = await this.provider.wrap(id, dek);
    await this.store.insertDataKey({
      id,
      caseId,
      kekId: wrapped.kekId,
      wrapped: wrapped.wrapped,
      createdAt: Date.now(),
    });
    this.byId.set(id, dek);
    this.currentByCase.set(caseId, id);
    return id;
  }

  /** Loads a case's keys into memory, once; concurrent callers share the load. */
  ensure(caseId: string): Promise<void> {
    if (this.currentByCase.has(caseId)) return Promise.resolve();
    let pending = this.loading.get(caseId);
    if (!pending) {
      pending = this.load(caseId).finally(() => this.loading.delete(caseId));
      this.loading.set(caseId, pending);
    }
    return pending;
  }

  private async load(caseId: string): Promise<void> {
    const records = await this.store.dataKeysForCase(caseId);
    if (records.length === 0) throw new KeyNotLoadedError(`case ${caseId} has no data key`);
    let newest = records[0]!;
    for (const r of records) {
      this.byId.set(r.id, await this.provider.unwrap(r.id, { kekId: r.kekId, wrapped: r.wrapped }));
      if (r.createdAt >= newest.createdAt) newest = r;
    }
    this.currentByCase.set(caseId, newest.id);
  }

  seal(caseId: string, conv: string, seq: number, text: string): { keyId: string; ciphertext: Buffer } {
    const keyId = this.currentByCase.get(caseId);
    if (!keyId) throw new KeyNotLoadedError(`data key of case ${caseId} is not loaded`);
    const ciphertext = seal(this.byId.get(keyId)!, text, aad('message.text', conv, seq));
    return { keyId, ciphertext };
  }

  open(message: StoredMessage): string {
    const key = this.byId.get(message.keyId);
    if (!key) throw new KeyNotLoadedError(`data key ${message.keyId} is not loaded`);
    return open(key, message.ciphertext, aad('message.text', message.conv, message.seq)).toString('utf8');
  }
}
