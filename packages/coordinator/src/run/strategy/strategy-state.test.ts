import { describe, expect, it } from 'vitest';
import {
  createStrategy,
  DEFAULT_STRATEGY_SETTINGS,
  STRATEGY_NAMES,
  type StrategyName,
  type StrategyState,
  StrategyStateError,
  type StrategyStateProblem,
} from './strategy.ts';

const VECTORS: Record<StrategyName, string[]> = {
  fedavg: [],
  fedavgm: ['momentum'],
  fedadagrad: ['m', 'v'],
  fedadam: ['m', 'v'],
  fedyogi: ['m', 'v'],
};

function rejection(name: StrategyName, state: unknown, length = 3): StrategyStateError {
  try {
    createStrategy(DEFAULT_STRATEGY_SETTINGS[name]).validateState(state as StrategyState, length);
  } catch (error) {
    expect(error).toBeInstanceOf(StrategyStateError);
    return error as StrategyStateError;
  }
  throw new Error(`${name}: the state was accepted`);
}

function expectProblem(name: StrategyName, state: unknown, problem: StrategyStateProblem, message: string) {
  const error = rejection(name, state);
  expect(error.problem).toBe(problem);
  expect(error.message).toBe(message);
  expect(error.name).toBe('StrategyStateError');
}

const good = (name: StrategyName, length = 3): StrategyState =>
  createStrategy(DEFAULT_STRATEGY_SETTINGS[name]).initialState(length);

describe('validateState', () => {
  it('accepts the strategy’s own states, fresh and stepped', () => {
    for (const name of STRATEGY_NAMES) {
      const strategy = createStrategy(DEFAULT_STRATEGY_SETTINGS[name]);
      const stepped = strategy.step(good(name), new Float64Array([1, 2, 3]), new Float64Array([0.5, -1, 2])).state;
      expect(() => strategy.validateState(good(name), 3)).not.toThrow();
      expect(() => strategy.validateState(stepped, 3)).not.toThrow();
    }
  });

  it('rejects a wrong version or a state that is no object', () => {
    for (const name of STRATEGY_NAMES) {
      expectProblem(name, { ...good(name), v: 2 }, 'version', `${name} state: expected version 1, got 2`);
      expectProblem(name, null, 'version', `${name} state: expected an object with version 1, got null`);
      expectProblem(name, 7, 'version', `${name} state: expected an object with version 1, got number`);
    }
  });

  it('rejects a step that is not an integer ≥ 0', () => {
    for (const step of [-1, 1.5, Number.NaN, '3', 2 ** 60]) {
      const error = rejection('fedadam', { ...good('fedadam'), step });
      expect(error.problem).toBe('step');
      expect(error.message).toBe(`fedadam state: expected step to be an integer ≥ 0, got ${String(step)}`);
    }
  });

  it('rejects missing, extra or renamed vectors, naming what was expected and what came', () => {
    for (const name of STRATEGY_NAMES) {
      const expected = VECTORS[name].join(', ');
      const vectors = { ...good(name).vectors, extra: new Float64Array(3) };
      expectProblem(
        name,
        { ...good(name), vectors },
        'vectors',
        `${name} state: expected vectors [${expected}], got [${[...VECTORS[name], 'extra'].sort().join(', ')}]`,
      );
      if (VECTORS[name].length > 0) {
        const rest = VECTORS[name].slice(1);
        const fewer = Object.fromEntries(rest.map((key) => [key, new Float64Array(3)]));
        expectProblem(
          name,
          { ...good(name), vectors: fewer },
          'vectors',
          `${name} state: expected vectors [${expected}], got [${rest.join(', ')}]`,
        );
      }
      expectProblem(
        name,
        { ...good(name), vectors: null },
        'vectors',
        `${name} state: expected vectors to be an object, got null`,
      );
    }
  });

  it('rejects a vector that is not a Float64Array', () => {
    expectProblem(
      'fedadam',
      { v: 1, step: 0, vectors: { m: new Float32Array(3), v: new Float64Array(3) } },
      'vectors',
      'fedadam state: expected m to be a Float64Array, got Float32Array',
    );
    expectProblem(
      'fedavgm',
      { v: 1, step: 0, vectors: { momentum: [0, 0, 0] } },
      'vectors',
      'fedavgm state: expected momentum to be a Float64Array, got Array',
    );
  });

  it('rejects a vector of the wrong length', () => {
    for (const name of STRATEGY_NAMES) {
      for (const key of VECTORS[name]) {
        const vectors = { ...good(name).vectors, [key]: new Float64Array(4) };
        expectProblem(name, { ...good(name), vectors }, 'length', `${name} state: expected ${key} of 3 weights, got 4`);
      }
    }
  });

  it('rejects NaN and infinities anywhere in a vector', () => {
    for (const name of STRATEGY_NAMES) {
      for (const key of VECTORS[name]) {
        for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
          const vector = new Float64Array(3);
          vector[2] = bad;
          expectProblem(
            name,
            { ...good(name), vectors: { ...good(name).vectors, [key]: vector } },
            'non-finite',
            `${name} state: ${key}[2] is ${bad}`,
          );
        }
      }
    }
  });

  it('rejects a negative second moment, which no step can produce', () => {
    for (const name of ['fedadagrad', 'fedadam', 'fedyogi'] as const) {
      const v = new Float64Array([1, -1e-300, 0]);
      expectProblem(
        name,
        { ...good(name), vectors: { m: new Float64Array(3), v } },
        'negative',
        `${name} state: expected v[1] ≥ 0, got -1e-300`,
      );
    }
    // A negative momentum or first moment is fine.
    createStrategy(DEFAULT_STRATEGY_SETTINGS.fedavgm).validateState(
      { v: 1, step: 1, vectors: { momentum: new Float64Array([-1, 0, 1]) } },
      3,
    );
  });
});
