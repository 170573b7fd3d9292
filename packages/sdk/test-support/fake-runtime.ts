/**
 * A ParticipantRuntime the test drives by hand (architecture.md §7.2, §7.7): the
 * app-side layers (ParticipantABC's trainer, AsyncParticipant) are tested
 * against it through the RuntimeFactory port — the test sets the snapshot,
 * the round parameters and the global model, calls the callbacks as the
 * loop would, and reads what the layer reported.
 */

import type { GlobalModel, RoundParameters } from '@petfl/core';
import { UninitializedParticipantError } from '../src/errors.ts';
import type { ParticipantRuntime, ParticipantRuntimeInit, ReportContext, RuntimeCallbacks } from '../src/runtime.ts';
import type { ParticipantSnapshot } from '../src/snapshot.ts';
import type { RuntimeFactory } from '../src/spawn-participant.ts';

export function roundParameters(roundId: number, modelLength: number): RoundParameters {
  return {
    roundId,
    coordinatorPk: new Uint8Array(32).fill(roundId),
    sumProbability: 0.1,
    updateProbability: 0.9,
    seed: new Uint8Array(32).fill(7),
    maskConfig: { group: 'power2', data: 'f32', bound: 'b2', model: 'm3' },
    modelLength,
  };
}

export class FakeRuntime implements ParticipantRuntime {
  snapshot: ParticipantSnapshot = Object.freeze({
    participantPk: 'A'.repeat(43),
    phase: 'new-round',
    task: 'none',
    roundId: null,
    training: false,
    bytesSent: 0,
    lastError: null,
  });
  params: RoundParameters | undefined;
  /** What globalModel() answers: a model, none, or an error to throw. */
  global: GlobalModel | undefined | Error;
  globalModelCalls = 0;
  readonly trainingFlags: boolean[] = [];
  readonly reported: { error: unknown; context: ReportContext | undefined }[] = [];
  wakes = 0;
  stopped = false;
  private stopCalled = false;
  private readonly listeners = new Set<() => void>();
  init: ParticipantRuntimeInit | undefined;

  get callbacks(): RuntimeCallbacks {
    if (this.init === undefined) throw new Error('FakeRuntime: not created yet');
    return this.init.callbacks;
  }

  readonly factory: RuntimeFactory = async (init) => {
    this.init = init;
    return this;
  };

  /**
   * Moves to `phase` of round `roundId` (with `modelLength` weights) and notifies subscribers. The
   * task follows from the phase, or is `task` (a 'sending' or 'awaiting' phase keeps its task).
   */
  enter(
    roundId: number,
    phase: ParticipantSnapshot['phase'],
    modelLength = 4,
    task: ParticipantSnapshot['task'] = phase === 'update'
      ? 'update'
      : phase === 'sum' || phase === 'sum2'
        ? 'sum'
        : 'none',
  ): void {
    this.params = roundParameters(roundId, modelLength);
    this.snapshot = Object.freeze({ ...this.snapshot, roundId, phase, task });
    for (const listener of [...this.listeners]) listener();
  }

  /** Records `error` as the snapshot's lastError (as a refusal of the round's message does) and notifies. */
  recordError(error: NonNullable<ParticipantSnapshot['lastError']>): void {
    this.snapshot = Object.freeze({ ...this.snapshot, lastError: Object.freeze({ ...error }) });
    for (const listener of [...this.listeners]) listener();
  }

  /** Asks the layer for round `roundId`'s local model until it answers something other than undefined. */
  async localModelOf(roundId: number, attempts = 100): Promise<ArrayLike<number> | null | undefined> {
    for (let i = 0; i < attempts; i++) {
      const model = await this.callbacks.localModel(roundId, this);
      if (model !== undefined) return model;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    return undefined;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  getSnapshot(): ParticipantSnapshot {
    return this.snapshot;
  }

  round(): RoundParameters | undefined {
    return this.params;
  }

  async globalModel(): Promise<GlobalModel | undefined> {
    this.globalModelCalls++;
    if (this.stopped) throw new UninitializedParticipantError('getGlobalModel(): the participant was stopped');
    if (this.global instanceof Error) throw this.global;
    return this.global;
  }

  setTraining(training: boolean): void {
    this.trainingFlags.push(training);
  }

  reportError(error: unknown, context?: ReportContext): void {
    this.reported.push({ error, context });
  }

  wake(): void {
    this.wakes++;
  }

  async stop(): Promise<Uint8Array> {
    if (this.stopCalled) throw new UninitializedParticipantError('stop(): the participant was stopped already');
    this.stopCalled = true;
    this.stopped = true;
    this.init?.callbacks.onStop?.(this);
    return new Uint8Array(0);
  }
}
