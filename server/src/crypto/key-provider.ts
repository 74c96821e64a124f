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
