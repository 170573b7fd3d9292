/**
 * The SDK's public error classes (architecture.md §5.2, §7.3). Inside the
 * loop errors are state (`snapshot.lastError`, whose `code` is the class's
 * code or a PetError code); at the public API they are these named classes,
 * all `PetflError`s with a `code` string, so apps can `instanceof` or switch
 * on `code`. Messages name the field, what was expected and what came.
 * The coordinator client's errors (`CoordinatorRejectedError`,
 * `CoordinatorUnavailableError`, `AdmissionTokenError`, in client/) are
 * PetflErrors too, each with its code.
 */

export class PetflError extends Error {
  override readonly name: string = 'PetflError';
  /** A stable, kebab-case code: one per class below, or the code of a round error. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/** libsodium (the crypto gate) could not be initialised on this platform. */
export class CryptoInitError extends PetflError {
  override readonly name = 'CryptoInitError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('crypto-init', message, options);
  }
}

/** The participant could not start: an invalid or unreachable coordinator URL, or bad options. */
export class ParticipantInitError extends PetflError {
  override readonly name = 'ParticipantInitError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('participant-init', message, options);
  }
}

/**
 * A saved state could not be restored: corrupt, truncated, foreign (not a petfl state) or from a
 * future version, or the store failed to read it. Nothing of it is used (never half-loaded).
 */
export class ParticipantRestoreError extends PetflError {
  override readonly name = 'ParticipantRestoreError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('participant-restore', message, options);
  }
}

/** The global model could not be fetched from the coordinator. */
export class GlobalModelUnavailableError extends PetflError {
  override readonly name = 'GlobalModelUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('global-model-unavailable', message, options);
  }
}

/**
 * The coordinator served a global model whose value type is not the one the round's mask config
 * implies (f32 and i32 configs: Float32Array; f64 and i64: Float64Array). The model is not handed
 * to the app.
 */
export class GlobalModelDataTypeMismatchError extends PetflError {
  override readonly name = 'GlobalModelDataTypeMismatchError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('global-model-data-type-mismatch', message, options);
  }
}

/** A local model whose length is not the round's `modelLength` (protocol.md §3.9). */
export class LocalModelLengthMismatchError extends PetflError {
  override readonly name = 'LocalModelLengthMismatchError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('local-model-length-mismatch', message, options);
  }
}

/** A local model with an element that is not a finite number (NaN, ±Infinity, a string, …). */
export class LocalModelDataTypeMismatchError extends PetflError {
  override readonly name = 'LocalModelDataTypeMismatchError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('local-model-data-type-mismatch', message, options);
  }
}

/** The participant was stopped; it cannot be used any more (spawn a new one from the saved state). */
export class UninitializedParticipantError extends PetflError {
  override readonly name = 'UninitializedParticipantError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('uninitialized-participant', message, options);
  }
}
