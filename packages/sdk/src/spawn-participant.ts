/**
 * `spawnParticipant` — runs a ParticipantABC (architecture.md §5.2): the SDK calls the
 * app's methods at the right moments of each round.
 *
 * As soon as the participant is selected for an update task (snapshot
 * task 'update', protocol.md §2) it asks `participateInUpdateTask()`; on yes
 * it trains in the background — `trainRound(input)` with input =
 * `deserializeTrainingInput(latest global model)`, or null while there is
 * none — and the result, through `serializeTrainingResult` and the local
 * model checks (LocalModelLengthMismatchError, LocalModelDataTypeMismatchError),
 * is the model the round's update carries. Training runs beside the loop, so
 * the participant keeps following the round meanwhile; a result that comes
 * after its round moved on is dropped. Any method that throws is reported
 * (snapshot.lastError, options.onError) and the participant sits that round
 * out. `onNewGlobalModel(input)` is called once per new global model,
 * `onUpdateAccepted(roundId)` once per update the coordinator accepted (its
 * sending ended in 'awaiting' with no new error of its round), and `onStop()`
 * once when the participant stops.
 */

import type { GlobalModel } from '@petfl/core';
import { ParticipantInitError } from './errors.ts';
import { type CheckedModel, checkLocalModel } from './local-model.ts';
import type { ParticipantOptions } from './options.ts';
import type { ParticipantABC } from './participant-abc.ts';
import {
  createParticipantRuntime,
  type ParticipantRuntime,
  type ParticipantRuntimeInit,
  type RuntimeCallbacks,
} from './runtime.ts';
import { type Observable, type ParticipantSnapshot, type SnapshotError, sameError } from './snapshot.ts';

export interface ParticipantHandle extends Observable {
  /**
   * Stops the participant: ends its loop, saves its state to the store, calls `onStop()` and
   * resolves to the serialized state (pass it as `options.state` to resume).
   * SECURITY: the bytes hold the participant's private keys.
   */
  stop(): Promise<Uint8Array>;
}

/** How a participant's runtime is made: in this thread, or behind a Worker (same contract). */
export type RuntimeFactory = (init: ParticipantRuntimeInit) => Promise<ParticipantRuntime>;

/** Starts `participant` against the coordinator at `coordinatorUrl`; see the module comment. */
export function spawnParticipant<TInput, TResult>(
  coordinatorUrl: string,
  participant: ParticipantABC<TInput, TResult>,
  options?: ParticipantOptions,
): Promise<ParticipantHandle> {
  return spawnParticipantWith(createParticipantRuntime, coordinatorUrl, participant, options);
}

/** `spawnParticipant` on a given runtime factory (Worker mode passes its own). */
export async function spawnParticipantWith<TInput, TResult>(
  createRuntime: RuntimeFactory,
  coordinatorUrl: string,
  participant: ParticipantABC<TInput, TResult>,
  options?: ParticipantOptions,
): Promise<ParticipantHandle> {
  const methods = ['trainRound', 'serializeTrainingResult', 'deserializeTrainingInput'] as const;
  const missing = methods.filter((m) => typeof (participant as unknown as Record<string, unknown>)?.[m] !== 'function');
  if (missing.length > 0) {
    throw new ParticipantInitError(`participant: expected a ParticipantABC, missing ${missing.join(', ')}`);
  }
  const trainer = new Trainer(participant);
  const runtime = await createRuntime({
    coordinatorUrl,
    callbacks: trainer.callbacks,
    ...(options === undefined ? {} : { options }),
  });
  // Start training as soon as the task is known, not only once the loop asks for the model.
  runtime.subscribe(() => trainer.onSnapshot(runtime));
  trainer.onSnapshot(runtime);
  return {
    subscribe: (listener) => runtime.subscribe(listener),
    getSnapshot: () => runtime.getSnapshot(),
    stop: () => runtime.stop(),
  };
}

type Outcome = { readonly kind: 'model'; readonly model: CheckedModel } | { readonly kind: 'skip' };

interface TrainingJob {
  readonly roundId: number;
  outcome: Outcome | undefined;
}

const SKIP: Outcome = { kind: 'skip' };

/** Drives one ParticipantABC: at most one training job, for the current round. */
class Trainer<TInput, TResult> {
  private job: TrainingJob | undefined;
  /** The update being sent, and the error the snapshot showed when its sending began. */
  private sending: { readonly roundId: number; readonly error: SnapshotError | null } | undefined;
  /** The latest global model, deserialized once. */
  private input: { readonly roundId: number; readonly input: TInput } | undefined;

  readonly callbacks: RuntimeCallbacks;

  private readonly participant: ParticipantABC<TInput, TResult>;

  constructor(participant: ParticipantABC<TInput, TResult>) {
    this.participant = participant;
    this.callbacks = {
      localModel: async (roundId, runtime) => {
        const { outcome } = this.start(roundId, runtime);
        if (outcome === undefined) return undefined; // training still runs: ask again later
        if (outcome.kind === 'skip') return null;
        this.job = { roundId, outcome: SKIP }; // handed over once; the cache empties
        return outcome.model;
      },
      onGlobalModel: (global, runtime) => this.onGlobalModel(global, runtime),
      onStop: (runtime) => {
        try {
          this.participant.onStop();
        } catch (error) {
          runtime.reportError(error, { callback: 'onStop' });
        }
      },
    };
  }

  onSnapshot(runtime: ParticipantRuntime): void {
    const snapshot = runtime.getSnapshot();
    const { phase, roundId } = snapshot;
    if (phase === 'update' && roundId !== null) this.start(roundId, runtime);
    this.watchUpdateSent(snapshot, runtime);
  }

  /**
   * `onUpdateAccepted`: an update of round r was being sent (phase 'sending', task 'update'), and
   * the participant then awaits the end of round r with no new error of that round — a refusal
   * would have recorded one (snapshots come on every change, from a Worker too).
   */
  private watchUpdateSent(snapshot: ParticipantSnapshot, runtime: ParticipantRuntime): void {
    const { phase, task, roundId, lastError } = snapshot;
    if (phase === 'sending' && task === 'update' && roundId !== null) {
      if (this.sending?.roundId !== roundId) this.sending = { roundId, error: lastError };
      return;
    }
    const sending = this.sending;
    if (sending === undefined || phase === 'sending') return;
    this.sending = undefined;
    if (phase !== 'awaiting' || roundId !== sending.roundId) return;
    if (lastError !== null && lastError.roundId === roundId && !sameError(lastError, sending.error)) return;
    try {
      this.participant.onUpdateAccepted(roundId);
    } catch (error) {
      runtime.reportError(error, { roundId, callback: 'onUpdateAccepted' });
    }
  }

  private onGlobalModel(global: GlobalModel, runtime: ParticipantRuntime): void {
    const input = this.deserialize(global, runtime);
    if (input === undefined) return;
    try {
      this.participant.onNewGlobalModel(input.input);
    } catch (error) {
      runtime.reportError(error, { roundId: global.roundId, callback: 'onNewGlobalModel' });
    }
  }

  private deserialize(global: GlobalModel, runtime: ParticipantRuntime): { input: TInput } | undefined {
    if (this.input?.roundId === global.roundId) return this.input;
    try {
      // A copy: the app may keep or change what it is given.
      const input = this.participant.deserializeTrainingInput(global.model.slice());
      this.input = { roundId: global.roundId, input };
      return this.input;
    } catch (error) {
      runtime.reportError(error, { roundId: global.roundId, callback: 'deserializeTrainingInput' });
      return undefined;
    }
  }

  private start(roundId: number, runtime: ParticipantRuntime): TrainingJob {
    if (this.job?.roundId === roundId) return this.job;
    const job: TrainingJob = { roundId, outcome: undefined };
    this.job = job;
    void this.train(roundId, runtime).then((outcome) => {
      job.outcome = outcome;
      if (!runtime.stopped) runtime.wake();
    });
    return job;
  }

  /** One round's training; every failure is reported and becomes SKIP. */
  private async train(roundId: number, runtime: ParticipantRuntime): Promise<Outcome> {
    const { participant } = this;
    const fail = (error: unknown, callback?: string): Outcome => {
      if (!runtime.stopped) runtime.reportError(error, callback === undefined ? { roundId } : { roundId, callback });
      return SKIP;
    };
    try {
      if (!(await participant.participateInUpdateTask())) return SKIP;
    } catch (error) {
      return fail(error, 'participateInUpdateTask');
    }
    if (runtime.stopped) return SKIP;
    let input: TInput | null = null;
    try {
      const global = await runtime.globalModel();
      if (global !== undefined) {
        const deserialized = this.deserialize(global, runtime);
        if (deserialized === undefined) return SKIP; // reported
        input = deserialized.input;
      }
    } catch (error) {
      return fail(error);
    }
    let result: TResult;
    runtime.setTraining(true);
    try {
      result = await participant.trainRound(input);
    } catch (error) {
      return fail(error, 'trainRound');
    } finally {
      runtime.setTraining(false);
    }
    let serialized: ArrayLike<number>;
    try {
      serialized = participant.serializeTrainingResult(result);
    } catch (error) {
      return fail(error, 'serializeTrainingResult');
    }
    const round = runtime.round();
    if (round?.roundId !== roundId) return SKIP; // the round moved on while training: too late
    try {
      return { kind: 'model', model: checkLocalModel(serialized, round, 'serializeTrainingResult result') };
    } catch (error) {
      return fail(error);
    }
  }
}
