/**
 * The model store port (architecture.md §7.2): where global models go once a round
 * is unmasked. The latest global model must never be lost — it is what every
 * participant trains from next — so `save` returns only once the model is
 * durable (filesystem: written to a temporary file, flushed, renamed).
 *
 * Implementations: `FsModelStore` (the default, `models.dir`: one file per
 * round plus `latest.bin`) and `MemoryModelStore` (tests, embedded use); both
 * pass `test-support/model-store.conformance.ts`. Files hold the global-model body of
 * protocol.md §3.10, so `latest.bin` is exactly what `GET /model` serves.
 */

import type { GlobalModel } from '@petfl/core';

export interface ModelStore {
  /** Stores the model of `model.roundId` and makes it the latest (if its round is newer). */
  save(model: GlobalModel): Promise<void>;
  /** The newest stored model, or undefined when none is. */
  latest(): Promise<GlobalModel | undefined>;
  /** The model of one round, or undefined. */
  get(roundId: number): Promise<GlobalModel | undefined>;
}
