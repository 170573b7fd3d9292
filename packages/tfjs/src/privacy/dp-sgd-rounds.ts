/**
 * DP-SGD round after round, as `TfjsParticipant` trains with its `dpSgd` option: each round's
 * local training is one `trainDpSgd` call (dp-sgd.ts), and the Rényi DP ledger it returns is
 * carried to the next round in memory, so the ε it reports covers every round trained from this
 * dataset (docs/privacy.md §4). The app persists the ledger from `onLedger` and hands it back
 * (`ledger`) to resume after a restart.
 *
 * The budget: `trainDpSgd` takes no step that would take the ledger's ε above `maxEpsilon`. A round
 * in which it can take none sends nothing — the model would be the global model, or weights
 * trained outside the budget — so the round throws `DpSgdBudgetError`: the SDK reports it
 * (`snapshot.lastError`, code 'dp-sgd-budget') and the participant sits the round out, as it will
 * every later one with the same ledger. A round cut short by the budget after some steps is sent:
 * every step it took is within the budget.
 *
 * The ledger is kept conservatively: it takes each step as soon as `trainDpSgd` charges it, so
 * steps taken before a later step throws still count.
 */

import {
  type AccountantState,
  accountantEpsilon,
  createAccountantState,
  initCrypto,
  type PetCrypto,
  PetError,
  validateAccountantState,
} from '@petfl/core';
import { PetflError } from '@petfl/sdk';
import type * as tf from '@tensorflow/tfjs';
import type { LocalData } from '../fl/local-data.ts';
import { compiledLoss, dpSgdModelProblems, type ExampleLoss } from './clipped-gradients.ts';
import { type DpSgdResult, trainDpSgd } from './dp-sgd.ts';
import { DP_SGD_LIMITS, type DpSgdOptions, dpSgdOptionProblems } from './dp-sgd-options.ts';

/** The `dpSgd` option of `TfjsParticipant`. */
export interface DpSgdTraining {
  /** The DP-SGD settings of every round: each round trains `epochs` passes (default 1) with them. */
  readonly options: DpSgdOptions;
  /** The ledger `onLedger` last handed out, to resume after a restart; a fresh one otherwise. */
  readonly ledger?: AccountantState;
  /**
   * Called after each round that took DP-SGD steps (and after a round that threw after some):
   * persist `ledger` (plain data, structured-clonable) and pass it back as `ledger` next time. A
   * listener that throws is reported (console.error) and the round goes on.
   */
  readonly onLedger?: (ledger: AccountantState, status: DpSgdStatus) => void;
  /** The loss per example; the model's compiled loss unless given (required for several outputs). */
  readonly loss?: ExampleLoss;
  /** From `initCrypto()`: the CSPRNG behind the batches and the noise; `initCrypto()` is called otherwise. */
  readonly crypto?: PetCrypto;
}

/** Where the participant's privacy budget stands (`participant.dpSgdStatus`); plain data. */
export interface DpSgdStatus {
  /** The ledger of every step trained so far, resumed one included. */
  readonly ledger: AccountantState;
  /** ε of the ledger at the options' δ; 0 while it is empty. */
  readonly epsilon: number;
  /** The latest round's DP-SGD result; null before the first round. */
  readonly lastRound: DpSgdResult | null;
  /** True when the latest round was sat out: the budget allowed no step. */
  readonly spent: boolean;
}

/** A round sat out: its DP-SGD budget allows no further step (module comment). */
export class DpSgdBudgetError extends PetflError {
  override readonly name = 'DpSgdBudgetError';
  constructor(message: string) {
    super('dp-sgd-budget', message);
  }
}

const TRAINING_KEYS = ['options', 'ledger', 'onLedger', 'loss', 'crypto'];

/** `fit` keys that still apply with DP-SGD: batchSize batches the evaluation of the global model. */
const FIT_KEYS_WITH_DP_SGD = ['batchSize'];

/**
 * Everything wrong with the `dpSgd` option for `model` (empty when valid). The options are
 * checked as far as they can be without the data: their size N is known per round.
 */
export function dpSgdTrainingProblems(training: unknown, model: tf.LayersModel, fit: object | undefined): string[] {
  if (typeof training !== 'object' || training === null || Array.isArray(training)) {
    return ['dpSgd: expected { options, ledger?, onLedger?, loss?, crypto? }'];
  }
  const t = training as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(t)) {
    if (!TRAINING_KEYS.includes(key)) problems.push(`dpSgd.${key}: not an option`);
  }
  for (const p of dpSgdOptionProblems(t['options'], DP_SGD_LIMITS.maxExamples)) problems.push(`dpSgd.options: ${p}`);
  if (t['ledger'] !== undefined) {
    try {
      validateAccountantState(t['ledger']);
    } catch (error) {
      problems.push(`dpSgd.ledger: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  for (const key of ['onLedger', 'loss']) {
    if (t[key] !== undefined && typeof t[key] !== 'function') problems.push(`dpSgd.${key}: expected a function`);
  }
  for (const p of dpSgdModelProblems(model)) problems.push(`dpSgd: ${p}`);
  if (t['loss'] === undefined && compiledLoss(model) === undefined) {
    problems.push('dpSgd.loss: expected one for a model without exactly one compiled loss');
  }
  // DP-SGD samples its own batches and steps (options.epochs, options.expectedBatchSize); fit's
  // would be silently ignored.
  for (const key of Object.keys(fit ?? {})) {
    if (!FIT_KEYS_WITH_DP_SGD.includes(key)) {
      problems.push(`fit.${key}: not used with dpSgd (DP-SGD trains with dpSgd.options), got one`);
    }
  }
  return problems;
}

/** Where a DP-SGD round stands, for the participant's progress: steps as batches of epochs. */
export interface DpSgdStepProgress {
  readonly epoch: number;
  readonly epochs: number;
  readonly batch: number;
  readonly batches: number;
}

/** The participant's DP-SGD across rounds: its settings, the ledger and the latest result. */
export class DpSgdRounds {
  readonly #options: DpSgdOptions;
  readonly #onLedger: DpSgdTraining['onLedger'];
  readonly #loss: ExampleLoss | undefined;
  readonly #crypto: PetCrypto | undefined;
  #ledger: AccountantState;
  #lastRound: DpSgdResult | null = null;
  #spent = false;
  /** The status as of the last change: the same object until the next one. */
  #status: DpSgdStatus | undefined;

  /** Checks `training` (dpSgdTrainingProblems); throws `PetError('invalid-field')` listing every problem. */
  constructor(training: DpSgdTraining, model: tf.LayersModel, fit: object | undefined) {
    const problems = dpSgdTrainingProblems(training, model, fit);
    if (problems.length > 0) throw new PetError('invalid-field', `TfjsParticipant: ${problems.join('; ')}`);
    this.#options = training.options;
    this.#onLedger = training.onLedger;
    this.#loss = training.loss;
    this.#crypto = training.crypto;
    // A copy: the app may change what it passed.
    this.#ledger = structuredClone(training.ledger ?? createAccountantState());
  }

  /** Where the budget stands; the same object until the ledger or the latest result changes. */
  get status(): DpSgdStatus {
    if (this.#status === undefined) {
      const ledger = this.#ledger;
      this.#status = {
        ledger,
        epsilon: ledger.events.length === 0 ? 0 : accountantEpsilon(ledger, this.#options.delta).value,
        lastRound: this.#lastRound,
        spent: this.#spent,
      };
    }
    return this.#status;
  }

  /**
   * One round of DP-SGD on `data`, continuing the ledger; throws `DpSgdBudgetError` (after
   * recording the result) when the budget allows no step.
   */
  async train(
    model: tf.LayersModel,
    data: LocalData,
    onProgress: (progress: DpSgdStepProgress) => void,
  ): Promise<DpSgdResult> {
    const crypto = this.#crypto ?? (await initCrypto());
    const examples = data.xs.shape[0] ?? 0;
    const perEpoch = Math.max(1, Math.ceil(examples / this.#options.expectedBatchSize));
    let stepped = false;
    try {
      const result = await trainDpSgd(model, data.xs, data.ys, this.#options, {
        crypto,
        accountant: this.#ledger,
        ...(this.#loss === undefined ? {} : { loss: this.#loss }),
        onStep: ({ step, plannedSteps, accountant }) => {
          this.#ledger = accountant;
          this.#status = undefined;
          stepped = true;
          const epoch = Math.ceil(step / perEpoch);
          onProgress({
            epoch,
            epochs: Math.ceil(plannedSteps / perEpoch),
            batch: step - (epoch - 1) * perEpoch,
            batches: perEpoch,
          });
        },
      });
      this.#ledger = result.accountant;
      this.#lastRound = result;
      this.#spent = result.steps === 0 && result.stoppedBy === 'budget';
      this.#status = undefined;
      if (this.#spent) {
        const { delta, maxEpsilon } = this.#options;
        throw new DpSgdBudgetError(
          `DP-SGD budget spent: ε = ${result.epsilon} at δ = ${delta} allows no step within maxEpsilon ${
            maxEpsilon ?? this.#options.targetEpsilon
          }; this round is sat out and no update is sent`,
        );
      }
      return result;
    } finally {
      if (stepped) this.#emitLedger();
    }
  }

  #emitLedger(): void {
    if (this.#onLedger === undefined) return;
    try {
      this.#onLedger(this.#ledger, this.status);
    } catch (err) {
      // A persistence callback never stops training (architecture.md §7.4).
      console.error('TfjsParticipant dpSgd.onLedger threw', err);
    }
  }
}
