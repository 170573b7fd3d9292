/**
 * Keeps a training run's points — global model and checkpoint — in the model store
 * (docs/learning.md §6). The coordinator's leader asks it for the next point when a round is
 * unmasked; every instance asks it what to serve (`GET /run`, `/model/best`, `?round=`). It holds
 * nothing the store does not: a restarted coordinator, or another instance, reads the same points.
 *
 * Order of writes: the checkpoint of a round, then its model (which makes it the latest). A crash
 * between the two leaves the previous model as the latest, with its own checkpoint, and the
 * round's unmasking runs again from it; a checkpoint that got ahead is overwritten. A round whose
 * model is already the latest is not applied twice.
 */

import {
  clipBitFraction,
  effectiveClipNorm,
  globalLength,
  isDistributed,
  type PetCrypto,
  type RoundPrivacy,
  releaseAverage,
  roundedNormBound,
  roundPrivacyMechanism,
} from '@petfl/core';
import type { Logger } from '../logger.ts';
import type { RunSettings } from '../settings/schema.ts';
import type { ModelStore } from '../store/model-store.ts';
import { StoreError } from '../store/store-error.ts';
import {
  addCentralNoise,
  charge,
  EMPTY_LEDGER,
  type PrivacyLedger,
  type PrivacySettings,
  spent,
} from './central-privacy.ts';
import { CheckpointError, decodeCheckpoint, encodeCheckpoint, type RunCheckpoint } from './checkpoint.ts';
import { createStrategy, StrategyStateError } from './strategy/strategy.ts';
import { advanceRun, isEvaluationRound, MAX_EVALUATIONS, type RunPoint, startRun } from './training-run.ts';

/** What `GET /run` shows participants and anyone else: the layout they build vectors by, where the run is. */
export interface RunInfo {
  readonly layout: RunSettings['layout'];
  readonly strategy: string;
  /** Completed training rounds of the run. */
  readonly round: number;
  /** The run's length in rounds; 0: no limit. */
  readonly rounds: number;
  readonly status: 'running' | 'ended';
  readonly ended: { readonly reason: string; readonly message: string; readonly roundId: number } | null;
  /** The round of the latest global model (0: the initial model). */
  readonly modelRoundId: number;
  /**
   * What the next round is for: "train", or "evaluate" — the run's training rounds are done and the
   * next round only evaluates the final model (its updates are set aside; participants may skip training).
   */
  readonly nextRound: 'train' | 'evaluate';
  /**
   * Differential privacy (docs/privacy.md), or null: participants clip their updates to `clipNorm`
   * (also in the layout); the noise on the sum is σ·clipNorm — added by the coordinator
   * (central-gaussian) or by the participants before masking (skellam, distributed-discrete-gaussian).
   */
  readonly privacy: {
    readonly mechanism: PrivacySettings['mechanism'];
    readonly clipNorm: number;
    /** σ, as set or as solved from the target ε (for distributed noise: the sum's, over Δ₂). */
    readonly noiseMultiplier: number;
    /** The promise every round announces in its parameters (`GET /params`), as participants check it. */
    readonly round: RoundPrivacy;
    readonly delta: number;
    /** ε spent so far at δ, and ρ (zCDP; dpsa4fl's ε²/2-zCDP form is √(2ρ)). */
    readonly epsilon: number;
    readonly rho: number | null;
    /** 0: no budget. */
    readonly budgetEpsilon: number;
  } | null;
}

/** The operator's view (`GET /admin/run`): the info, the strategy's settings, evaluations, the best model. */
export interface RunReport extends RunInfo {
  readonly strategySettings: RunSettings['strategy'];
  readonly evaluations: RunCheckpoint['evaluations'];
  readonly best: { readonly roundId: number; readonly metric: string; readonly value: number } | null;
  readonly earlyStopping: (NonNullable<RunSettings['earlyStopping']> & { readonly stuck: number }) | null;
  /** A restore the next unmasked round carries out (`POST /admin/run/restore`), if one is pending. */
  readonly restorePending: number | null;
  readonly restoredFrom: number | null;
  /** ε spent in total after each round (with differential privacy), and adaptive clipping's C and b̄. */
  readonly epsilonByRound: PrivacyLedger['spent'];
}

/** The outcome of applying a round: the point to publish, and whether the round ended the run. */
export interface Applied {
  readonly point: RunPoint;
  readonly endedNow: boolean;
}

/** A checkpoint that does not decode, or whose strategy state does not fit the run: the store's data is bad. */
function storeProblem(what: string, error: unknown): never {
  if (error instanceof CheckpointError || error instanceof StrategyStateError) {
    throw new StoreError(`${what}: ${error.message}`, { cause: error });
  }
  throw error;
}

export class RunKeeper {
  readonly settings: RunSettings;
  private readonly strategy;
  private readonly models: ModelStore;
  private readonly log: Logger;
  private readonly initial: ArrayLike<number> | undefined;
  private readonly crypto: PetCrypto;
  /**
   * What every round of the run promises (round-privacy.ts), or undefined without differential
   * privacy; with adaptive clipping each round announces its own clip norm (`promiseFor`).
   */
  private readonly promise: RoundPrivacy | undefined;
  /** The latest point read or written, by the round of its model. */
  private cached: RunPoint | undefined;

  constructor(
    settings: RunSettings,
    models: ModelStore,
    crypto: PetCrypto,
    log: Logger,
    initial?: ArrayLike<number>,
    promise?: RoundPrivacy,
  ) {
    this.settings = settings;
    this.crypto = crypto;
    if ((settings.privacy === null) !== (promise === undefined)) {
      throw new RangeError(
        'RunKeeper: differential privacy needs the rounds’ promise (round-privacy.ts), and only then',
      );
    }
    this.promise = promise;
    this.strategy = createStrategy(settings.strategy);
    this.models = models;
    this.log = log;
    this.initial = initial;
  }

  /**
   * The latest point: the latest model and its checkpoint. Before the first model the run starts
   * (the initial model is saved as round 0); a latest model without a checkpoint (a run begun over
   * older models) starts the run from it.
   */
  async latest(): Promise<RunPoint> {
    const latest = await this.models.latest();
    if (latest === undefined) {
      const point = startRun(this.settings, this.strategy, this.initial);
      await this.models.saveCheckpoint(0, encodeCheckpoint(point.checkpoint));
      await this.models.save({ roundId: 0, model: point.model });
      this.log.info({ strategy: this.settings.strategy.name, initial: this.initial !== undefined }, 'run started');
      this.cached = point;
      return point;
    }
    const cached = this.cached;
    if (cached !== undefined && cached.checkpoint.roundId === latest.roundId) return cached;
    const expected = globalLength(this.settings.layout);
    if (latest.model.length !== expected) {
      throw new StoreError(
        `the latest global model (round ${latest.roundId}) has ${latest.model.length} values, but the run's global ` +
          `model has ${expected} (docs/learning.md §2): point models.dir at a directory for this run`,
      );
    }
    const model = Float64Array.from(latest.model);
    const bytes = await this.models.checkpoint(latest.roundId);
    let checkpoint: RunCheckpoint;
    if (bytes === undefined) {
      checkpoint = { ...startRun(this.settings, this.strategy).checkpoint, roundId: latest.roundId };
      this.log.info({ roundId: latest.roundId }, 'run started from the latest global model');
    } else {
      try {
        checkpoint = decodeCheckpoint(bytes);
        this.strategy.validateState(checkpoint.strategy, this.settings.layout.modelLength);
      } catch (error) {
        storeProblem(`the checkpoint of round ${latest.roundId}`, error);
      }
    }
    const point = { model, checkpoint };
    this.cached = point;
    return point;
  }

  /**
   * Round `roundId` unmasked `average`: the next point, its checkpoint saved (the caller then saves
   * the model). With `restore`, the round's average is set aside and the point is that round's
   * checkpoint again: the participants' updates were made against the model the restore replaces.
   * `announced`: the privacy the round promised in its parameters (bound into its seed) and that seed
   * (a rotating round is rotated back with it, @petfl/core rotation.ts); the round
   * is released and charged by it, never by a promise recomputed since.
   */
  async apply(
    roundId: number,
    average: Float64Array,
    count: number,
    restore?: number,
    announced?: { readonly privacy: RoundPrivacy; readonly roundSeed: Uint8Array },
  ): Promise<Applied> {
    const from = await this.latest();
    // Already applied (a restart between saving the model and ending the round).
    if (from.checkpoint.roundId === roundId) return { point: from, endedNow: false };
    let point: RunPoint;
    if (restore !== undefined) {
      const restored = await this.point(restore);
      if (restored === undefined) throw new StoreError(`restore: round ${restore} has no checkpoint and model`);
      // The model, strategy state and evaluations go back; the privacy ledger does not: the ε of the
      // rounds released since stays spent (docs/privacy.md §2).
      const { privacy: _rolledBack, ...restoredCheckpoint } = restored.checkpoint;
      const ledger = from.checkpoint.privacy;
      point = {
        model: restored.model,
        checkpoint: {
          ...restoredCheckpoint,
          roundId,
          ended: null,
          restoredFrom: restore,
          ...(ledger === undefined ? {} : { privacy: ledger }),
        },
      };
      this.log.warn({ roundId, restoredFrom: restore }, 'run restored: this round’s updates set aside');
    } else {
      point =
        this.settings.privacy === null || this.promise === undefined
          ? advanceRun(this.settings, this.strategy, from, roundId, average)
          : this.privateStep(
              this.settings.privacy,
              announced?.privacy ?? promiseFor(this.promise, from.checkpoint),
              announced?.roundSeed,
              from,
              roundId,
              average,
              count,
            );
    }
    await this.models.saveCheckpoint(roundId, encodeCheckpoint(point.checkpoint));
    return { point, endedNow: point.checkpoint.ended !== null && from.checkpoint.ended === null };
  }

  /**
   * A round under differential privacy: charged to the ledger first — a round that would spend
   * more than the budget is not released (its updates are set aside and the run ends) — then the
   * average update gets its noise (central), or is turned back from the participants' noised
   * integer units into an update (distributed), and the strategy steps on it.
   */
  private privateStep(
    privacy: PrivacySettings,
    promise: RoundPrivacy,
    roundSeed: Uint8Array | undefined,
    from: RunPoint,
    roundId: number,
    average: Float64Array,
    count: number,
  ): RunPoint {
    const ledger = from.checkpoint.privacy ?? EMPTY_LEDGER;
    const round = promise;
    const charged = charge(ledger, roundPrivacyMechanism(round), privacy.delta);
    if (privacy.budgetEpsilon > 0 && charged.epsilon > privacy.budgetEpsilon) {
      const already = spent(ledger, privacy.delta).epsilon;
      return {
        model: from.model,
        checkpoint: {
          ...from.checkpoint,
          roundId,
          ended: {
            reason: 'privacy-budget',
            message:
              `another round would spend ε = ${charged.epsilon.toPrecision(4)} in total at δ = ${privacy.delta}, ` +
              `over the budget ${privacy.budgetEpsilon} (spent: ${already.toPrecision(4)}); its updates were set aside`,
            roundId,
          },
        },
      };
    }
    // The noised vector: the update, and with adaptive clipping its bit last (d = the round's modelLength).
    const d = round.dimension;
    const noisy = average.slice();
    if (isDistributed(round)) {
      // A rotating round without its seed (rotation.ts) cannot be released: releaseAverage says so.
      const rotation = roundSeed === undefined ? undefined : { crypto: this.crypto, roundSeed };
      noisy.set(releaseAverage(round, average.subarray(0, d), rotation), 0);
    } else addCentralNoise(this.crypto, noisy.subarray(0, d), count, effectiveClipNorm(round), round.noiseMultiplier);
    const point = advanceRun(this.settings, this.strategy, from, roundId, noisy);
    let clip: { clipNorm: number; unclipped: number; next: number } | undefined;
    if (privacy.adaptive !== null) {
      // Andrew et al. 2021: C ← C·exp(−η·(b̄ − γ)), b̄ the noised fraction of unclipped updates,
      // clamped to [0, 1] (post-processing); C stays within [C₀/1000, 1000·C₀] so that one noisy
      // round cannot throw it out of range.
      const unclipped = Math.min(1, Math.max(0, clipBitFraction(round, noisy[d - 1] as number)));
      const { learningRate, targetQuantile } = privacy.adaptive;
      const next = round.clipNorm * Math.exp(-learningRate * (unclipped - targetQuantile));
      const C0 = privacy.clipNorm;
      clip = {
        clipNorm: round.clipNorm,
        unclipped,
        next: Math.min(ADAPTIVE_RANGE * C0, Math.max(C0 / ADAPTIVE_RANGE, next)),
      };
    }
    const entry = {
      roundId,
      epsilon: charged.epsilon,
      ...(clip === undefined ? {} : { clipNorm: clip.clipNorm, unclipped: clip.unclipped }),
    };
    return {
      model: point.model,
      checkpoint: {
        ...point.checkpoint,
        privacy: {
          accountant: charged.accountant,
          spent: [...ledger.spent, entry].slice(-MAX_EVALUATIONS),
          ...(clip === undefined ? {} : { clipNorm: clip.next }),
        },
      },
    };
  }

  /**
   * The round's model was saved: it is the latest point now; older checkpoints beyond the retention
   * go, except the best's, and a pending restore's.
   */
  async published(point: RunPoint, restorePending?: number): Promise<void> {
    this.cached = point;
    const keep = this.settings.keepCheckpoints;
    if (keep === 0) return;
    const rounds = await this.models.checkpointRounds();
    const best = point.checkpoint.earlyStopping.best?.roundId;
    const newest = new Set(rounds.slice(-keep));
    const kept = (roundId: number) =>
      newest.has(roundId) || roundId === best || roundId === point.checkpoint.roundId || roundId === restorePending;
    for (const roundId of rounds) {
      if (kept(roundId)) continue;
      await this.models.drop(roundId);
    }
  }

  /** The point of one round (its model and checkpoint), or undefined when either is gone. */
  async point(roundId: number): Promise<RunPoint | undefined> {
    const [global, bytes] = await Promise.all([this.models.get(roundId), this.models.checkpoint(roundId)]);
    if (global === undefined || bytes === undefined) return undefined;
    let checkpoint: RunCheckpoint;
    try {
      checkpoint = decodeCheckpoint(bytes);
      this.strategy.validateState(checkpoint.strategy, this.settings.layout.modelLength);
    } catch (error) {
      storeProblem(`the checkpoint of round ${roundId}`, error);
    }
    return { model: Float64Array.from(global.model), checkpoint };
  }

  /** What the round after `point` promises (docs/privacy.md), or undefined without differential privacy. */
  async roundPromise(): Promise<RoundPrivacy | undefined> {
    if (this.promise === undefined) return undefined;
    return promiseFor(this.promise, (await this.latest()).checkpoint);
  }

  info(point: RunPoint): RunInfo {
    const { checkpoint } = point;
    return {
      layout: this.settings.layout,
      strategy: this.settings.strategy.name,
      round: checkpoint.runRound,
      rounds: this.settings.rounds,
      status: checkpoint.ended === null ? 'running' : 'ended',
      ended: checkpoint.ended,
      modelRoundId: checkpoint.roundId,
      nextRound: isEvaluationRound(this.settings, checkpoint) ? 'evaluate' : 'train',
      privacy: this.privacyInfo(checkpoint),
    };
  }

  private privacyInfo(checkpoint: RunCheckpoint): RunInfo['privacy'] {
    const privacy = this.settings.privacy;
    const promise = this.promise;
    if (privacy === null || promise === undefined) return null;
    const used = spent(checkpoint.privacy ?? EMPTY_LEDGER, privacy.delta);
    return {
      mechanism: privacy.mechanism,
      clipNorm: promiseFor(promise, checkpoint).clipNorm,
      noiseMultiplier: sumNoiseMultiplier(promise),
      round: promiseFor(promise, checkpoint),
      delta: privacy.delta,
      epsilon: used.epsilon,
      rho: used.rho,
      budgetEpsilon: privacy.budgetEpsilon,
    };
  }

  report(point: RunPoint, restorePending: number | undefined): RunReport {
    const { checkpoint } = point;
    const judge = this.settings.earlyStopping;
    const best = checkpoint.earlyStopping.best;
    return {
      ...this.info(point),
      strategySettings: this.settings.strategy,
      evaluations: checkpoint.evaluations,
      best: best === null || judge === null ? null : { roundId: best.roundId, metric: judge.metric, value: best.value },
      earlyStopping: judge === null ? null : { ...judge, stuck: checkpoint.earlyStopping.stuck },
      restorePending: restorePending ?? null,
      restoredFrom: checkpoint.restoredFrom ?? null,
      epsilonByRound: checkpoint.privacy?.spent ?? [],
    };
  }
}

/** σ of a promise: the noise on the sum over the sensitivity (Δ₂ in units for distributed noise). */
export function sumNoiseMultiplier(promise: RoundPrivacy): number {
  if (!isDistributed(promise)) return promise.noiseMultiplier;
  const variance =
    promise.mechanism === 'skellam'
      ? 2 * promise.participants * promise.noise
      : promise.participants * promise.noise ** 2;
  return Math.sqrt(variance) / roundedNormBound(promise.scale, promise.dimension);
}

/** Adaptive clipping keeps C within a factor of this of the setting's clip_norm. */
export const ADAPTIVE_RANGE = 1000;

/** The promise of the round after `checkpoint`: with adaptive clipping, at the clip norm it reached. */
function promiseFor(promise: RoundPrivacy, checkpoint: RunCheckpoint): RoundPrivacy {
  const clipNorm = checkpoint.privacy?.clipNorm;
  return clipNorm === undefined || promise.clipBitWeight === undefined ? promise : { ...promise, clipNorm };
}
