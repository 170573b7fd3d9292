/**
 * The one error the coordinator's stores throw (architecture.md §7.3, on the
 * adapter side of the ports): stored data that is corrupt, a write or read
 * naming a round that is not the round in progress, or a backend that
 * failed (Redis unreachable, a file that cannot be written). The message
 * names the operation and the key or file; the backend's own error, when
 * there is one, is the `cause`.
 *
 * It is a `CoordinatorError` ('store-failed'), not a `PetError`: a store
 * failure is the coordinator's problem, not a participant's message being
 * refused, so the two must stay apart.
 */

import { CoordinatorError } from '../errors.ts';

export class StoreError extends CoordinatorError {
  override readonly name = 'StoreError';
  declare readonly code: 'store-failed';

  constructor(message: string, options?: { cause?: unknown }) {
    super('store-failed', message, options);
  }
}
