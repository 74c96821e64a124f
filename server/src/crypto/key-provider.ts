/**
 * A key provider holds the key-encryption keys (KEKs) that wrap each case's data key. The file provider is the
 * embedded default; a cloud KMS implements the same interface (wrap and unwrap happen inside the KMS, and the KEK
 * never leaves it).
 */
export interface WrappedKey {
  readonly kekId: string;
  readonly wrapped: Buffer;
}

export interface KeyProvider {
  /** The KEK new data keys are wrapped with. */
  readonly currentKekId: string;
  /** Wraps a data key; `dekId` is bound into the wrapping so a wrapped key cannot be swapped for another. */
  wrap(dekId: string, dek: Buffer): Promise<WrappedKey>;
  /** @throws when the KEK is unknown or the wrapped key was altered. */
  unwrap(dekId: string, key: WrappedKey): Promise<Buffer>;
}

/**
 * What KEK rotation (`crypto/kek-rotation.ts`) needs beyond wrapping: a provider that can hold several KEKs, make a
 * new one current, and forget one that no wrapped key uses any more. Unwrap keeps working with every KEK held, so
 * live traffic goes on while the data keys are re-wrapped.
 *
 * A cloud KMS implements it without any key material leaving the KMS: `addKek` creates a new key (or key version) and
 * makes it the one `wrap` uses; `kekIds` lists the keys (versions) this deployment may unwrap with; `retireKek`
 * schedules the key (version) for deletion or disables it. The `kekId` stored beside each wrapped key is then the
 * KMS key id with its version, so `unwrap` knows which one to ask for.
 */
export interface RotatableKeyProvider extends KeyProvider {
  /** Generates a new KEK, makes it current, and keeps the others for unwrapping. Resolves with its id. */
  addKek(): Promise<string>;
  /** The ids of every KEK held, the current one included. */
  kekIds(): Promise<readonly string[]>;
  /** Forgets a KEK for good. Call it only when no wrapped key uses it. @throws for the current KEK. */
  retireKek(kekId: string): Promise<void>;
}
