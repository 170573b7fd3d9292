/**
 * The one place that maps error codes to HTTP statuses:
 * the protocol's codes (`PetError`, @petfl/core) and the coordinator's own
 * (`CoordinatorError`, ../errors.ts) in one table. Every rejection is a 4xx
 * with a JSON body `{code, message}`; 5xx means the coordinator could not
 * decide (store down, shutting down), so a participant may retry. The record
 * is exhaustive: a new code of either kind must be placed here.
 */

import type { PetErrorCode } from '@petfl/core';
import type { CoordinatorErrorCode } from '../errors.ts';

/** Every code the coordinator's errors carry. */
export type ErrorCode = PetErrorCode | CoordinatorErrorCode;

export const ERROR_STATUS: Readonly<Record<ErrorCode, 400 | 401 | 403 | 404 | 409 | 413 | 429 | 503>> = {
  // the message cannot be read or is malformed
  'decrypt-failed': 400,
  truncated: 400,
  'trailing-bytes': 400,
  'out-of-range': 400,
  'invalid-field': 400,
  'length-mismatch': 400,
  'wrong-coordinator-key': 400,
  'unknown-tag': 400,
  'reserved-nonzero': 400,
  'chunk-mismatch': 400,
  'duplicate-key': 400,
  'unsorted-keys': 400,
  'invalid-mask-config': 400,
  'invalid-model-value': 400,
  'invalid-scalar': 400,
  'config-mismatch': 400,
  'model-length-mismatch': 400,
  'invalid-round-parameters': 400,
  'seed-dict-mismatch': 400,
  'invalid-key': 400,
  'keystream-exhausted': 400,
  'crypto-failed': 400,
  'aggregate-out-of-range': 400,
  // a participant's own privacy refusals: never a coordinator answer, mapped for completeness
  'noise-out-of-range': 400,
  'privacy-mismatch': 400,
  'privacy-limit': 400,
  'empty-aggregation': 400,
  'zero-scalar-sum': 400,
  // who sent it
  'bad-signature': 401,
  'not-eligible': 401,
  'not-admitted': 401,
  banned: 403,
  'unknown-sum-participant': 404,
  // well formed, but the round refuses it now
  'wrong-round': 409,
  'wrong-phase': 409,
  'duplicate-message': 409,
  'phase-full': 409,
  'too-many-models': 409,
  // size limits
  'body-too-large': 413,
  oversized: 413,
  // rate and load limits: retry after the Retry-After header
  'rate-limited': 429,
  busy: 503,
  // the coordinator cannot decide now
  unavailable: 503,
  'crypto-init': 503,
  // the coordinator's own codes (CoordinatorError): its operator API and settings
  'invalid-settings': 400,
  unauthorized: 401,
  'not-found': 404,
  // ... and its stores; a StoreError is answered with the code `unavailable` (protocol.md §3.11)
  'store-failed': 503,
};
