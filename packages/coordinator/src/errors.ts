/**
 * The coordinator's own error base. `PetError` (in @petfl/core)
 * is the protocol's error: a participant's message refused, with a code every
 * party knows. What only the coordinator can go wrong with — its settings,
 * its operator API, its stores — is a `CoordinatorError` whose `code` is one of
 * the literals below. `http/error-status.ts` maps both kinds of code to HTTP
 * statuses, in one table.
 */

export const COORDINATOR_ERROR_CODES = [
  // the coordinator's operator API and settings
  /** Missing or wrong bearer token for `/admin` or `GET /metrics`. */
  'unauthorized',
  /** Settings (file, environment or `PUT /admin/settings`) failed validation: `SettingsError` lists every problem. */
  'invalid-settings',
  /** No such route. */
  'not-found',
  // the coordinator's adapters
  /**
   * A store could not do its work: its backend failed (Redis unreachable, a file that cannot be
   * written), its data is corrupt, or the round named is not the round in progress (`StoreError`).
   * Answered to participants as core's `unavailable` (503): they only need to know to retry.
   */
  'store-failed',
] as const;

export type CoordinatorErrorCode = (typeof COORDINATOR_ERROR_CODES)[number];

export class CoordinatorError extends Error {
  override readonly name: string = 'CoordinatorError';
  readonly code: CoordinatorErrorCode;

  constructor(code: CoordinatorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

export function isCoordinatorError(value: unknown, code?: CoordinatorErrorCode): value is CoordinatorError {
  return value instanceof CoordinatorError && (code === undefined || value.code === code);
}
