/**
 * One step of a training run (docs/learning.md §4): from the global model a round started from and
 * its checkpoint, and the round's unmasked average, the next global model and checkpoint. Pure and
 * deterministic — the same inputs give the same bits — so a coordinator that restarts, or another
 * instance that takes over, continues the run exactly as an uninterrupted one would.
 *
 * The average is split by the run's vector layout (@petfl/core vector-layout.ts): the average update
 * Δ̄ goes to the server strategy, x ← strategy(x, Δ̄); SCAFFOLD's average control-variate delta moves
 * the server control variate, c ← c + Δc̄ (Karimireddy et al. 2020 with every sampled participant
 * counted: docs/learning.md §3.2); the federated metrics evaluate the model the round started from,
 * and early stopping judges them.
 */

import { globalLength, splitAverage, splitGlobal } from '@petfl/core';
import type { RunSettings } from '../settings/schema.ts';
import type { EvaluationRecord, RunCheckpoint, RunEnd } from './checkpoint.ts';
import { EARLY_STOPPING_START, judgeEvaluation } from './early-stopping.ts';
import type { ServerStrategy } from './strategy/strategy.ts';

/** The most evaluations a checkpoint keeps (the oldest go first). */
export const MAX_EVALUATIONS = 10_000;

/** A global model (x, then c with control variates; float64) and its checkpoint. */
export interface RunPoint {
  readonly model: Float64Array;
  readonly checkpoint: RunCheckpoint;
}

/** The run's start: the initial model (zeros when none is given) with a zero control variate. */
export function startRun(settings: RunSettings, strategy: ServerStrategy, initial?: ArrayLike<number>): RunPoint {
  const { layout } = settings;
  const model = new Float64Array(globalLength(layout));
  if (initial !== undefined) {
    if (initial.length !== layout.modelLength && initial.length !== model.length) {
      throw new RangeError(
        `initial model: expected ${layout.modelLength}${
          layout.controlVariates ? ` (or ${model.length} with the control variate)` : ''
        } weights, got ${initial.length}`,
      );
    }
    for (let i = 0; i < initial.length; i++) {
      const value = initial[i] as number;
      if (!Number.isFinite(value)) throw new RangeError(`initial model: weight ${i} is ${value}`);
      model[i] = value;
    }
  }
  return {
    model,
    checkpoint: {
      v: 1,
      roundId: 0,
      runRound: 0,
      strategy: strategy.initialState(layout.modelLength),
      evaluations: [],
      earlyStopping: EARLY_STOPPING_START,
      ended: null,
    },
  };
}

/**
 * The next point after round `roundId` unmasked `average` (the scalar-weighted average of the
 * participants' masked vectors). Inputs are not changed.
 */
export function advanceRun(
  settings: RunSettings,
  strategy: ServerStrategy,
  from: RunPoint,
  roundId: number,
  average: Float64Array,
): RunPoint {
  const { layout } = settings;
  const P = layout.modelLength;
  const split = splitAverage(layout, average);
  const current = splitGlobal(layout, from.model);
  const x = current.model as Float64Array;

  const { checkpoint } = from;
  // The run's training rounds are done and the final model still needs its evaluation: this round
  // only evaluates (docs/learning.md §5); its updates are set aside and the model stays.
  if (isEvaluationRound(settings, checkpoint)) {
    const record: EvaluationRecord = {
      modelRoundId: checkpoint.roundId,
      roundId,
      values: split.metrics?.values ?? null,
    };
    const judged = judge(settings, checkpoint.earlyStopping, checkpoint.roundId, record.values);
    return {
      model: Float64Array.from(from.model),
      checkpoint: {
        ...checkpoint,
        roundId,
        evaluations: [...checkpoint.evaluations, record].slice(-MAX_EVALUATIONS),
        earlyStopping: judged.state,
        ended: { reason: 'rounds', message: `the run's ${settings.rounds} rounds are done and evaluated`, roundId },
      },
    };
  }

  // Δ̄: the participants sent updates, or models (then Δ̄ = their average − x).
  let update = split.model;
  if (layout.send === 'model') {
    update = new Float64Array(P);
    for (let i = 0; i < P; i++) update[i] = (split.model[i] as number) - (x[i] as number);
  }
  const stepped = strategy.step(from.checkpoint.strategy, x, update);
  const model = new Float64Array(globalLength(layout));
  model.set(stepped.model, 0);
  if (layout.controlVariates) {
    const c = current.control as Float64Array;
    const delta = split.controlDelta as Float64Array;
    for (let i = 0; i < P; i++) model[P + i] = (c[i] as number) + (delta[i] as number);
  }

  let evaluations = checkpoint.evaluations;
  let earlyStopping = checkpoint.earlyStopping;
  let ended: RunEnd | null = null;
  if (split.metrics !== undefined) {
    const record: EvaluationRecord = { modelRoundId: checkpoint.roundId, roundId, values: split.metrics.values };
    evaluations = [...evaluations, record].slice(-MAX_EVALUATIONS);
    const judged = judge(settings, earlyStopping, checkpoint.roundId, record.values);
    earlyStopping = judged.state;
    if (judged.stop) {
      const best = judged.state.best;
      const { metric, patience } = settings.earlyStopping ?? { metric: '', patience: 0 };
      ended = {
        reason: 'early-stopping',
        message:
          `${metric} has not improved on ${best?.value} (the model of round ${best?.roundId}) ` +
          `for ${patience} evaluation${patience === 1 ? '' : 's'}`,
        roundId,
      };
    }
  }
  const runRound = checkpoint.runRound + 1;
  const trained = settings.rounds > 0 && runRound >= settings.rounds;
  // With a final evaluation to come, the run ends after it (isEvaluationRound).
  if (ended === null && trained && !finalEvaluationDue(settings)) {
    ended = { reason: 'rounds', message: `the run's ${settings.rounds} rounds are done`, roundId };
  }
  return {
    model,
    checkpoint: { v: 1, roundId, runRound, strategy: stepped.state, evaluations, earlyStopping, ended },
  };
}

/** Whether the run ends with an evaluation-only round (docs/learning.md §5). */
function finalEvaluationDue(settings: RunSettings): boolean {
  return settings.finalEvaluation && settings.rounds > 0 && settings.layout.metrics.length > 0;
}

/** Whether the next round after `checkpoint` only evaluates: the training rounds are done, the run not ended. */
export function isEvaluationRound(settings: RunSettings, checkpoint: RunCheckpoint): boolean {
  return finalEvaluationDue(settings) && checkpoint.runRound >= settings.rounds && checkpoint.ended === null;
}

/** Early stopping's verdict on an evaluation (no judge, or no value for its metric: no change). */
function judge(
  settings: RunSettings,
  state: RunCheckpoint['earlyStopping'],
  modelRoundId: number,
  values: Readonly<Record<string, number>> | null,
): { readonly state: RunCheckpoint['earlyStopping']; readonly stop: boolean } {
  const judgeSettings = settings.earlyStopping;
  const value = judgeSettings === null ? undefined : values?.[judgeSettings.metric];
  if (judgeSettings === null || value === undefined) return { state, stop: false };
  const verdict = judgeEvaluation(judgeSettings, state, modelRoundId, value);
  return { state: verdict.state, stop: verdict.stop && judgeSettings.patience > 0 };
}
