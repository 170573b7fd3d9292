/**
 * The in-memory model store: the `ModelStore` port for tests and embedded use,
 * where global models need not outlive the process. Models are copied in and
 * out, so neither the coordinator nor a reader can change a stored model by
 * mutating its array.
 */

import type { GlobalModel } from '@petfl/core';
import type { ModelStore } from './model-store.ts';

function copy(model: GlobalModel): GlobalModel {
  return { roundId: model.roundId, model: model.model.slice() };
}

export class MemoryModelStore implements ModelStore {
  private readonly models = new Map<number, GlobalModel>();
  private latestRound: number | undefined;
  private readonly checkpoints = new Map<number, Uint8Array>();

  async save(model: GlobalModel): Promise<void> {
    this.models.set(model.roundId, copy(model));
    // Only a newer (or the same) round replaces the latest, as in FsModelStore.
    if (this.latestRound === undefined || model.roundId >= this.latestRound) this.latestRound = model.roundId;
  }

  async latest(): Promise<GlobalModel | undefined> {
    return this.latestRound === undefined ? undefined : this.get(this.latestRound);
  }

  async get(roundId: number): Promise<GlobalModel | undefined> {
    const model = this.models.get(roundId);
    return model === undefined ? undefined : copy(model);
  }

  async saveCheckpoint(roundId: number, bytes: Uint8Array): Promise<void> {
    this.checkpoints.set(roundId, bytes.slice());
  }

  async checkpoint(roundId: number): Promise<Uint8Array | undefined> {
    return this.checkpoints.get(roundId)?.slice();
  }

  async checkpointRounds(): Promise<readonly number[]> {
    return [...this.checkpoints.keys()].sort((a, b) => a - b);
  }

  async drop(roundId: number): Promise<void> {
    if (roundId === this.latestRound) return;
    this.models.delete(roundId);
    this.checkpoints.delete(roundId);
  }

  async makeLatest(roundId: number): Promise<GlobalModel | undefined> {
    if (!this.models.has(roundId)) return undefined;
    this.latestRound = roundId;
    return this.get(roundId);
  }
}
