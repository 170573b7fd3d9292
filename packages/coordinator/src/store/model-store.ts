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

  // A training run's checkpoints (docs/learning.md §6): opaque bytes (run/checkpoint.ts), one per
  // round, saved — durably — before the round's model, so the latest model always has one.

  /** Stores the checkpoint of `roundId`, replacing any. */
  saveCheckpoint(roundId: number, bytes: Uint8Array): Promise<void>;
  /** The checkpoint of one round, or undefined. */
  checkpoint(roundId: number): Promise<Uint8Array | undefined>;
  /** The rounds that have a checkpoint, ascending. */
  checkpointRounds(): Promise<readonly number[]>;
  /** Deletes the model and the checkpoint of `roundId` (retention); never the latest model. */
  drop(roundId: number): Promise<void>;
  /**
   * Makes the stored model of `roundId` the latest again, even though newer rounds are stored
   * (a run restored to a checkpoint); returns it, or undefined when that round has no model.
   */
  makeLatest(roundId: number): Promise<GlobalModel | undefined>;
}
