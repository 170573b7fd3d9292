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
}
