/**
 * `spawnAsyncParticipant` — the participant an app feeds at its own pace
 * (architecture.md §5.2): it trains whenever it likes and hands in its latest local
 * model with `setLocalModel`; it learns of new global models through the
 * `globalModelNotifier` and fetches them with `getGlobalModel()`.
 *
 * The local model cache holds one model: the latest set wins, and it empties
 * once an update task used it. An update participant whose cache is empty
 * waits (until a model is set or the round moves on). `setLocalModel`
 * validates at once and throws synchronously: LocalModelDataTypeMismatchError
 * for an element that is not a finite number, and, once the round
 * parameters are known, LocalModelLengthMismatchError for a length other
 * than the round's `modelLength`.
 */

import type { GlobalModel } from '@petfl/core';
import { LocalModelLengthMismatchError, UninitializedParticipantError } from './errors.ts';
import { type CheckedModel, checkLocalModel } from './local-model.ts';
import { GlobalModelNotifier, type ModelNotifier } from './model-notifier.ts';
import type { ParticipantOptions } from './options.ts';
import { createParticipantRuntime } from './runtime.ts';
import type { Observable } from './snapshot.ts';
import type { RuntimeFactory } from './spawn-participant.ts';

export interface AsyncParticipant extends Observable {
  /** Caches `model` for the next update task (any time; the latest wins; the cache empties once used). */
  setLocalModel(model: ArrayLike<number>): void;
  /**
   * The latest global model (a copy), or null while none exists; clears the notifier.
   * GlobalModelUnavailableError when it cannot be fetched.
   */
  getGlobalModel(): Promise<Float32Array | Float64Array | null>;
  /** As ParticipantHandle.stop(): resolves to the serialized state (holds private keys). */
  stop(): Promise<Uint8Array>;
}

export interface SpawnedAsyncParticipant {
  readonly participant: AsyncParticipant;
  /** Set when a new global model arrives; `getGlobalModel()` clears it. */
  readonly globalModelNotifier: ModelNotifier;
}

export function spawnAsyncParticipant(
  coordinatorUrl: string,
  options?: ParticipantOptions,
): Promise<SpawnedAsyncParticipant> {
  return spawnAsyncParticipantWith(createParticipantRuntime, coordinatorUrl, options);
}

/** `spawnAsyncParticipant` on a given runtime factory (Worker mode passes its own). */
export async function spawnAsyncParticipantWith(
  createRuntime: RuntimeFactory,
  coordinatorUrl: string,
  options?: ParticipantOptions,
): Promise<SpawnedAsyncParticipant> {
  const notifier = new GlobalModelNotifier();
  let cached: CheckedModel | undefined;
  const runtime = await createRuntime({
    coordinatorUrl,
    ...(options === undefined ? {} : { options }),
    callbacks: {
      async localModel(roundId, runtime) {
        const model = cached;
        if (model === undefined) return undefined; // wait for the app
        cached = undefined;
        const modelLength = runtime.round()?.modelLength;
        if (modelLength !== undefined && model.length !== modelLength) {
          // Set before the round parameters were known: reported, and the participant waits for another.
          const error = new LocalModelLengthMismatchError(
            `local model: expected ${modelLength} weights (the round's modelLength), got ${model.length}`,
          );
          runtime.reportError(error, { roundId });
          return undefined;
        }
        return model;
      },
      onGlobalModel: () => notifier.set(),
      onStop: () => notifier.close(new UninitializedParticipantError('the participant was stopped')),
    },
  });

  const assertRunning = (call: string): void => {
    if (runtime.stopped) throw new UninitializedParticipantError(`${call}: the participant was stopped`);
  };
  const participant: AsyncParticipant = {
    subscribe: (listener) => runtime.subscribe(listener),
    getSnapshot: () => runtime.getSnapshot(),
    setLocalModel(model) {
      assertRunning('setLocalModel()');
      cached = checkLocalModel(model, runtime.round());
      runtime.wake();
    },
    async getGlobalModel() {
      assertRunning('getGlobalModel()');
      notifier.clear(); // before fetching: a model arriving meanwhile sets it again
      const global: GlobalModel | undefined = await runtime.globalModel();
      return global === undefined ? null : global.model.slice();
    },
    stop: () => runtime.stop(),
  };
  return { participant, globalModelNotifier: notifier };
}
