/**
 * What every strategy's state has in common: its shape (which named vectors it keeps, which of them
 * can never go below zero), a fresh zero state, the full check of a loaded one, and the cheap
 * per-step checks that keep a mismatched length from turning into silent NaNs. A loaded state is
 * checked once, at the boundary (ServerStrategy.validateState, which throws StrategyStateError with
 * the problem found here); `step` then only checks lengths, with a RangeError.
 */

import type { StrategyName, StrategyState, StrategyStateProblem } from './strategy.ts';

/** The vectors a strategy keeps in its state. */
export interface StateShape {
  readonly strategy: StrategyName;
  /** The names of the state's vectors, sorted. */
  readonly vectors: readonly string[];
  /** Vectors that are ≥ 0 by construction (second moments): a negative entry means corruption. */
  readonly nonNegative: readonly string[];
}

function checkModelLength(length: number): void {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`strategy state: expected a model length that is an integer ≥ 0, got ${length}`);
  }
}

/** Step 0 with a new zero vector of `length` per name. */
export function zeroState(shape: StateShape, length: number): StrategyState {
  checkModelLength(length);
  const vectors: Record<string, Float64Array> = {};
  for (const name of shape.vectors) vectors[name] = new Float64Array(length);
  return { v: 1, step: 0, vectors };
}

/** A value's kind for an error message: `null`, `number`, `Float32Array`, `Object`, … */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  const name: unknown = Object.getPrototypeOf(value)?.constructor?.name;
  return typeof name === 'string' ? name : 'object';
}

/** The first problem of a loaded `state` for `shape` and a model of `length` weights, if any. */
export function stateProblem(
  shape: StateShape,
  state: StrategyState,
  length: number,
): { problem: StrategyStateProblem; message: string } | undefined {
  checkModelLength(length);
  const what = `${shape.strategy} state`;
  // Loaded data: nothing about it is trusted, whatever its static type says.
  const loaded = state as unknown as { v?: unknown; step?: unknown; vectors?: unknown } | null;
  if (typeof loaded !== 'object' || loaded === null) {
    return { problem: 'version', message: `${what}: expected an object with version 1, got ${describe(loaded)}` };
  }
  if (loaded.v !== 1) return { problem: 'version', message: `${what}: expected version 1, got ${String(loaded.v)}` };
  const { step, vectors } = loaded;
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) {
    return { problem: 'step', message: `${what}: expected step to be an integer ≥ 0, got ${String(step)}` };
  }
  if (typeof vectors !== 'object' || vectors === null) {
    return { problem: 'vectors', message: `${what}: expected vectors to be an object, got ${describe(vectors)}` };
  }
  const names = Object.keys(vectors).sort();
  if (names.length !== shape.vectors.length || names.some((name, i) => name !== shape.vectors[i])) {
    return {
      problem: 'vectors',
      message: `${what}: expected vectors [${shape.vectors.join(', ')}], got [${names.join(', ')}]`,
    };
  }
  for (const name of shape.vectors) {
    const vector = (vectors as Record<string, unknown>)[name];
    if (!(vector instanceof Float64Array)) {
      return { problem: 'vectors', message: `${what}: expected ${name} to be a Float64Array, got ${describe(vector)}` };
    }
    if (vector.length !== length) {
      return { problem: 'length', message: `${what}: expected ${name} of ${length} weights, got ${vector.length}` };
    }
    const nonNegative = shape.nonNegative.includes(name);
    for (let i = 0; i < vector.length; i++) {
      const value = vector[i] as number;
      if (!Number.isFinite(value)) return { problem: 'non-finite', message: `${what}: ${name}[${i}] is ${value}` };
      if (nonNegative && value < 0) {
        return { problem: 'negative', message: `${what}: expected ${name}[${i}] ≥ 0, got ${value}` };
      }
    }
  }
  return undefined;
}

/** Throws RangeError unless the global model and the average update have the same length. */
export function checkStepLengths(shape: StateShape, global: Float64Array, averageUpdate: Float64Array): void {
  if (averageUpdate.length !== global.length) {
    throw new RangeError(
      `${shape.strategy} step: expected an average update of ${global.length} weights (the global model's), got ${averageUpdate.length}`,
    );
  }
}

/** The state's vector `name`, which must hold `length` weights; RangeError otherwise (one cheap check per step). */
export function stateVector(shape: StateShape, state: StrategyState, name: string, length: number): Float64Array {
  const vector = state.vectors[name];
  if (vector === undefined || vector.length !== length) {
    throw new RangeError(
      `${shape.strategy} step: expected a state vector ${name} of ${length} weights, got ${
        vector === undefined ? 'none' : vector.length
      }`,
    );
  }
  return vector;
}
