/**
 * Server strategies: how the coordinator turns a round's average update into the next global model.
 * FedAvg and FedAvgM (Hsu et al. 2019), and FedAdagrad, FedAdam and FedYogi from Reddi et al.,
 * "Adaptive Federated Optimization" (ICLR 2021). Each follows Flower's implementation of the same
 * name rule for rule — including where Flower departs from the paper, which each file notes — and
 * is checked against numbers from Flower's own code (test-data/flower-strategies.json, made by
 * scripts/reference/flower-strategies.py; scripts/reference/README.md says how).
 *
 * A strategy is a pure step over plain state: `step(state, x_t, Δ̄) → {x_{t+1}, state}`, where Δ̄ is
 * the example-weighted average of the participants' updates (local model − x_t) — Flower's
 * `delta_t = fedavg_result − current_weights`. The state is versioned plain data, persisted with
 * every round by the caller (../checkpoint.ts), so a restarted coordinator steps on bit for bit.
 */

import { fedAdagrad } from './fedadagrad.ts';
import { fedAdam } from './fedadam.ts';
import { fedAvg } from './fedavg.ts';
import { fedAvgM } from './fedavgm.ts';
import { fedYogi } from './fedyogi.ts';
import { type StateShape, stateProblem, zeroState } from './strategy-state.ts';

/** Wire and settings names; the order is the settings' documentation order. */
export const STRATEGY_NAMES = ['fedavg', 'fedavgm', 'fedadagrad', 'fedadam', 'fedyogi'] as const;
export type StrategyName = (typeof STRATEGY_NAMES)[number];

/** A strategy's hyper-parameters; each strategy reads the ones it uses and ignores the rest. */
export interface StrategySettings {
  readonly name: StrategyName;
  /** η, the server learning rate (Flower's `server_learning_rate` in FedAvgM, `eta` in the FedOpt family). */
  readonly serverLearningRate: number;
  /** β, FedAvgM's server momentum (Flower's `server_momentum`); ignored by the others. */
  readonly serverMomentum: number;
  /** β₁, the first moment's decay (FedAdagrad, FedAdam, FedYogi). */
  readonly beta1: number;
  /** β₂, the second moment's decay (FedAdam, FedYogi; FedAdagrad sums instead). */
  readonly beta2: number;
  /** τ, the adaptivity: added to √v in the denominator (FedAdagrad, FedAdam, FedYogi). */
  readonly tau: number;
}

/**
 * Flower's defaults, per strategy (the keyword defaults of its strategy classes; its client learning
 * rate `eta_l` is a client setting and has no place here). Fields a strategy ignores are 0.
 * FedAvg has no server learning rate in Flower: η = 1 is its plain weighted average. FedAvgM's
 * defaults (η = 1, β = 0) make it FedAvg, as in Flower. FedAdagrad's β₁ = 0 is the value Flower
 * fixes (it takes no β₁ argument); β₂ is unused by its rule.
 */
export const DEFAULT_STRATEGY_SETTINGS: Readonly<Record<StrategyName, StrategySettings>> = {
  fedavg: { name: 'fedavg', serverLearningRate: 1, serverMomentum: 0, beta1: 0, beta2: 0, tau: 0 },
  fedavgm: { name: 'fedavgm', serverLearningRate: 1, serverMomentum: 0, beta1: 0, beta2: 0, tau: 0 },
  fedadagrad: { name: 'fedadagrad', serverLearningRate: 0.1, serverMomentum: 0, beta1: 0, beta2: 0, tau: 1e-9 },
  fedadam: { name: 'fedadam', serverLearningRate: 0.1, serverMomentum: 0, beta1: 0.9, beta2: 0.99, tau: 1e-9 },
  fedyogi: { name: 'fedyogi', serverLearningRate: 0.01, serverMomentum: 0, beta1: 0.9, beta2: 0.99, tau: 1e-3 },
};

/**
 * A strategy's state: plain, structured-clonable, versioned. `step` counts the server steps taken
 * (0 before the first); `vectors` holds the strategy's named per-weight vectors (FedAvg: none,
 * FedAvgM: `momentum`, the FedOpt family: `m` and `v`), each as long as the model.
 */
export interface StrategyState {
  readonly v: 1;
  readonly step: number;
  readonly vectors: Readonly<Record<string, Float64Array>>;
}

export interface ServerStrategy {
  readonly settings: StrategySettings;
  /** The state before the first step: step 0 and zero vectors of `length`, freshly allocated. */
  initialState(length: number): StrategyState;
  /**
   * One server step. `global` is the current global model x_t, `averageUpdate` the (weighted) average
   * of the participants' updates Δ = local model − x_t. Returns x_{t+1} and the next state, all in
   * new arrays; never mutates inputs. Throws RangeError when the lengths disagree.
   */
  step(
    state: StrategyState,
    global: Float64Array,
    averageUpdate: Float64Array,
  ): { model: Float64Array; state: StrategyState };
  /**
   * Throws StrategyStateError naming the problem when a loaded state does not fit this strategy and a
   * model of `length` weights (wrong version, step, vector names or types, lengths, non-finite or
   * out-of-range numbers).
   */
  validateState(state: StrategyState, length: number): void;
}

/** What is wrong with a loaded state. */
export type StrategyStateProblem = 'version' | 'step' | 'vectors' | 'length' | 'non-finite' | 'negative';

/** A persisted strategy state that does not fit the strategy or the model. */
export class StrategyStateError extends Error {
  override readonly name = 'StrategyStateError';
  readonly problem: StrategyStateProblem;

  constructor(problem: StrategyStateProblem, message: string) {
    super(message);
    this.problem = problem;
  }
}

/**
 * One strategy's rule, as its own file defines it: the state it keeps, the hyper-parameters it reads,
 * and the step. createStrategy builds the ServerStrategy around it.
 */
export interface UpdateRule {
  readonly shape: StateShape;
  /** The hyper-parameters the rule reads; the others are ignored (and only need to be finite). */
  readonly reads: readonly HyperParameter[];
  step(
    settings: StrategySettings,
    state: StrategyState,
    global: Float64Array,
    averageUpdate: Float64Array,
  ): { model: Float64Array; state: StrategyState };
}

export type HyperParameter = Exclude<keyof StrategySettings, 'name'>;

/** Exhaustive: a new name does not compile without its rule. */
const RULES: Readonly<Record<StrategyName, UpdateRule>> = {
  fedavg: fedAvg,
  fedavgm: fedAvgM,
  fedadagrad: fedAdagrad,
  fedadam: fedAdam,
  fedyogi: fedYogi,
};

/**
 * The bounds that keep every rule finite: η > 0; β, β₁, β₂ in [0, 1) (FedAdam divides by 1 − β₁^k);
 * τ > 0 (with τ = 0 a weight that never moved would divide 0 by 0).
 */
const BOUNDS: Readonly<Record<HyperParameter, readonly [string, (n: number) => boolean]>> = {
  serverLearningRate: ['a number > 0', (n) => n > 0],
  serverMomentum: ['a number in [0, 1)', (n) => n >= 0 && n < 1],
  beta1: ['a number in [0, 1)', (n) => n >= 0 && n < 1],
  beta2: ['a number in [0, 1)', (n) => n >= 0 && n < 1],
  tau: ['a number > 0', (n) => n > 0],
};

/**
 * Every problem of `settings`, each naming the field, what was expected and what came; empty when
 * the strategy can be built. Bounds apply to the hyper-parameters the strategy reads.
 */
export function strategySettingsProblems(settings: StrategySettings): string[] {
  const name: unknown = settings.name;
  if (typeof name !== 'string' || !(STRATEGY_NAMES as readonly string[]).includes(name)) {
    return [`name: expected one of ${STRATEGY_NAMES.join(', ')}, got ${JSON.stringify(name)}`];
  }
  const { reads } = RULES[settings.name];
  const problems: string[] = [];
  for (const field of Object.keys(BOUNDS) as HyperParameter[]) {
    const value: unknown = settings[field];
    const [expected, ok] = BOUNDS[field];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      problems.push(`${field}: expected a finite number, got ${String(value)}`);
    } else if (reads.includes(field) && !ok(value)) {
      problems.push(`${field}: expected ${expected} for ${settings.name}, got ${value}`);
    }
  }
  return problems;
}

/**
 * The strategy `settings.name`, holding a frozen copy of `settings`. Throws RangeError listing every
 * problem of the settings (strategySettingsProblems).
 */
export function createStrategy(settings: StrategySettings): ServerStrategy {
  const problems = strategySettingsProblems(settings);
  if (problems.length > 0) throw new RangeError(`strategy settings: ${problems.join('; ')}`);
  const frozen: StrategySettings = Object.freeze({ ...settings });
  const rule = RULES[frozen.name];
  return {
    settings: frozen,
    initialState: (length) => zeroState(rule.shape, length),
    step: (state, global, averageUpdate) => rule.step(frozen, state, global, averageUpdate),
    validateState(state, length) {
      const found = stateProblem(rule.shape, state, length);
      if (found !== undefined) throw new StrategyStateError(found.problem, found.message);
    },
  };
}
