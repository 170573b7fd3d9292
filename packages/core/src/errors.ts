/**
 * One error class for the whole protocol library (architecture.md §7.3).
 *
 * Every decoder, validator and crypto gate throws a `PetError` whose `code` is
 * one of the literals below and whose message names the field, what was
 * expected and what came (`update payload: expected 6018 bytes, got 6017`).
 * Servers map codes to HTTP statuses in one place; SDKs turn them into state.
 */

export const PET_ERROR_CODES = [
  // crypto gate
  'crypto-init',
  'decrypt-failed',
  'bad-signature',
  'invalid-key',
  'keystream-exhausted',
  /** A libsodium operation failed on a value that passed decoding (e.g. sealing to a rejected key). */
  'crypto-failed',
  // byte decoders
  'truncated',
  'trailing-bytes',
  'oversized',
  'out-of-range',
  'invalid-field',
  // message framing
  'length-mismatch',
  'wrong-coordinator-key',
  'unknown-tag',
  'reserved-nonzero',
  'chunk-mismatch',
  // dictionaries
  'duplicate-key',
  'unsorted-keys',
  // masking and aggregation
  'invalid-mask-config',
  'invalid-model-value',
  'invalid-scalar',
  'config-mismatch',
  'model-length-mismatch',
  'too-many-models',
  'empty-aggregation',
  'zero-scalar-sum',
  /** The unmasked aggregate lies outside what n honest, clamped participants can produce (protocol.md §4). */
  'aggregate-out-of-range',
  // round parameters
  'invalid-round-parameters',
  // the coordinator's answers (protocol.md §3.11): the message was well formed but the round refuses it
  'wrong-round',
  'wrong-phase',
  'not-eligible',
  'duplicate-message',
  'unknown-sum-participant',
  'seed-dict-mismatch',
  'phase-full',
  'body-too-large',
  'unavailable',
  // the coordinator's defences against hostile participants (docs/security.md)
  /** The request presented no admission credential, or one the coordinator does not accept. */
  'not-admitted',
  /** The participant key (or its admitted subject) was excluded for sending unopenable mask seeds. */
  'banned',
  /** Too many requests from one subject or address: retry after the Retry-After header. */
  'rate-limited',
  /** Too many message bodies in flight: retry after the Retry-After header. */
  'busy',
  // a round's privacy promise (docs/privacy.md)
  /** A participant's noised coordinate would leave the mask range: it is not clamped, the update is not sent. */
  'noise-out-of-range',
  /** The round seed does not commit to the announced privacy (ADR 0012): the promise may have been changed. */
  'privacy-mismatch',
  /** The round would take the participant's ε over its own limit (SDK option `privacy`): it sits out. */
  'privacy-limit',
  // The coordinator's operator API and its own failures are not the protocol's: their codes
  // ('unauthorized', 'invalid-settings', 'not-found', …) live in @petfl/coordinator (CoordinatorError).
] as const;

export type PetErrorCode = (typeof PET_ERROR_CODES)[number];

export class PetError extends Error {
  override readonly name = 'PetError';
  readonly code: PetErrorCode;

  constructor(code: PetErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function isPetError(value: unknown, code?: PetErrorCode): value is PetError {
  return value instanceof PetError && (code === undefined || value.code === code);
}
