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
  /** The ids of each case's keys held in memory, so that `forget` can drop them. */
  private readonly idsByCase = new Map<string, string[]>();

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
    this.idsByCase.set(caseId, [...(this.idsByCase.get(caseId) ?? []), id]);
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
    this.idsByCase.set(
      caseId,
      records.map((r) => r.id),
    );
  }

  /**
   * Drops a case's keys from memory (retention destroyed them in the store): nothing of the case can be sealed or
   * opened by this node any more, and a later `ensure` finds no key.
   */
  forget(caseId: string): void {
    for (const id of this.idsByCase.get(caseId) ?? []) {
      this.byId.get(id)?.fill(0);
      this.byId.delete(id);
    }
    this.idsByCase.delete(caseId);
    this.currentByCase.delete(caseId);
  }

  seal(caseId: string, conv: string, seq: number, text: string): { keyId: string; ciphertext: Buffer } {
    const keyId = this.currentByCase.get(caseId);
    if (!keyId) throw new KeyNotLoadedError(`data key of case ${caseId} is not loaded`);
    const ciphertext = seal(this.byId.get(keyId)!, text, aad('message.text', conv, seq));
    return { keyId, ciphertext };
  }

  /**
   * Seals a field of a clinical record other than a message (a note's text) under the case's current key, bound by
   * AAD to the field and the record's id: moved to another row or field, it fails to open.
   */
  sealField(caseId: string, field: string, recordId: string, text: string): { keyId: string; ciphertext: Buffer } {
    const keyId = this.currentByCase.get(caseId);
    if (!keyId) throw new KeyNotLoadedError(`data key of case ${caseId} is not loaded`);
    const ciphertext = seal(this.byId.get(keyId)!, Buffer.from(text, 'utf8'), aad(field, recordId));
    return { keyId, ciphertext };
  }

  /** Opens what `sealField` sealed; the case's keys must be loaded (`ensure`). */
  openField(keyId: string, field: string, recordId: string, ciphertext: Uint8Array): string {
    const key = this.byId.get(keyId);
    if (!key) throw new KeyNotLoadedError(`data key ${keyId} is not loaded`);
    return open(key, ciphertext, aad(field, recordId)).toString('utf8');
  }

  open(message: StoredMessage): string {
    const key = this.byId.get(message.keyId);
    if (!key) throw new KeyNotLoadedError(`data key ${message.keyId} is not loaded`);
    return open(key, message.ciphertext, aad('message.text', message.conv, message.seq)).toString('utf8');
  }
}
