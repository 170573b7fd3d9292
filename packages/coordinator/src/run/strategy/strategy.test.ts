import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { vector } from '../../../test-support/strategy-arbitraries.ts';
import {
  createStrategy,
  DEFAULT_STRATEGY_SETTINGS,
  STRATEGY_NAMES,
  type StrategySettings,
  type StrategyState,
  strategySettingsProblems,
} from './strategy.ts';

const unit = fc.double({ min: 0, max: 0.999, noNaN: true });
const settings = fc.record({
  name: fc.constantFrom(...STRATEGY_NAMES),
  serverLearningRate: fc.double({ min: 1e-4, max: 2, noNaN: true }),
  serverMomentum: unit,
  beta1: unit,
  beta2: unit,
  tau: fc.double({ min: 1e-9, max: 1, noNaN: true }),
});
/** Settings, and a state reached after a few random rounds, with the next round's inputs. */
const midRun = fc.tuple(settings, fc.integer({ min: 0, max: 10 })).chain(([s, n]) =>
  fc.record({
    settings: fc.constant(s),
    global: vector(n),
    update: vector(n),
    earlier: fc.array(vector(n), { maxLength: 4 }),
  }),
);

function advance(s: StrategySettings, global: Float64Array, earlier: readonly Float64Array[]): StrategyState {
  const strategy = createStrategy(s);
  let state = strategy.initialState(global.length);
  for (const d of earlier) state = strategy.step(state, global, d).state;
  return state;
}

function copyState(state: StrategyState): StrategyState {
  return {
    v: state.v,
    step: state.step,
    vectors: Object.fromEntries(Object.entries(state.vectors).map(([k, x]) => [k, x.slice()])),
  };
}

describe('DEFAULT_STRATEGY_SETTINGS', () => {
  it("are Flower's keyword defaults", () => {
    expect(DEFAULT_STRATEGY_SETTINGS).toEqual({
      fedavg: { name: 'fedavg', serverLearningRate: 1, serverMomentum: 0, beta1: 0, beta2: 0, tau: 0 },
      fedavgm: { name: 'fedavgm', serverLearningRate: 1, serverMomentum: 0, beta1: 0, beta2: 0, tau: 0 },
      fedadagrad: { name: 'fedadagrad', serverLearningRate: 0.1, serverMomentum: 0, beta1: 0, beta2: 0, tau: 1e-9 },
      fedadam: { name: 'fedadam', serverLearningRate: 0.1, serverMomentum: 0, beta1: 0.9, beta2: 0.99, tau: 1e-9 },
      fedyogi: { name: 'fedyogi', serverLearningRate: 0.01, serverMomentum: 0, beta1: 0.9, beta2: 0.99, tau: 1e-3 },
    });
  });

  it('each build a strategy of their name', () => {
    for (const name of STRATEGY_NAMES) {
      expect(strategySettingsProblems(DEFAULT_STRATEGY_SETTINGS[name])).toEqual([]);
      expect(createStrategy(DEFAULT_STRATEGY_SETTINGS[name]).settings).toEqual(DEFAULT_STRATEGY_SETTINGS[name]);
    }
  });
});

describe('createStrategy', () => {
  it('keeps a frozen copy of the settings', () => {
    const given = { ...DEFAULT_STRATEGY_SETTINGS.fedadam };
    const strategy = createStrategy(given);
    given.serverLearningRate = 5;
    expect(strategy.settings.serverLearningRate).toBe(0.1);
    expect(Object.isFrozen(strategy.settings)).toBe(true);
  });

  it('lists every problem, naming the field, what was expected and what came', () => {
    const bad: StrategySettings = {
      name: 'fedadam',
      serverLearningRate: 0,
      serverMomentum: Number.NaN,
      beta1: 1,
      beta2: -0.1,
      tau: 0,
    };
    expect(strategySettingsProblems(bad)).toEqual([
      'serverLearningRate: expected a number > 0 for fedadam, got 0',
      'serverMomentum: expected a finite number, got NaN',
      'beta1: expected a number in [0, 1) for fedadam, got 1',
      'beta2: expected a number in [0, 1) for fedadam, got -0.1',
      'tau: expected a number > 0 for fedadam, got 0',
    ]);
    expect(() => createStrategy(bad)).toThrow(/^strategy settings: serverLearningRate: .*; tau: /);
    expect(strategySettingsProblems({ ...bad, name: 'fedsgd' as never })).toEqual([
      'name: expected one of fedavg, fedavgm, fedadagrad, fedadam, fedyogi, got "fedsgd"',
    ]);
  });

  it('bounds only the hyper-parameters a strategy reads', () => {
    expect(
      strategySettingsProblems({ ...DEFAULT_STRATEGY_SETTINGS.fedavg, serverMomentum: 3, beta1: 2, tau: 0 }),
    ).toEqual([]);
    expect(strategySettingsProblems({ ...DEFAULT_STRATEGY_SETTINGS.fedavgm, serverMomentum: 1 })).toEqual([
      'serverMomentum: expected a number in [0, 1) for fedavgm, got 1',
    ]);
    expect(strategySettingsProblems({ ...DEFAULT_STRATEGY_SETTINGS.fedadagrad, beta2: 7 })).toEqual([]);
  });
});

describe('ServerStrategy.step, every strategy', () => {
  it('never mutates its inputs and returns new arrays', () => {
    fc.assert(
      fc.property(midRun, ({ settings: s, global, update, earlier }) => {
        const strategy = createStrategy(s);
        const state = advance(s, global, earlier);
        const before = { state: copyState(state), global: global.slice(), update: update.slice() };
        const next = strategy.step(state, global, update);
        expect(state).toEqual(before.state);
        expect(global).toEqual(before.global);
        expect(update).toEqual(before.update);
        const inputs = [global.buffer, update.buffer, ...Object.values(state.vectors).map((x) => x.buffer)];
        for (const out of [next.model, ...Object.values(next.state.vectors)]) expect(inputs).not.toContain(out.buffer);
        expect(next.state.step).toBe(state.step + 1);
        expect(Object.keys(next.state.vectors).sort()).toEqual(Object.keys(state.vectors).sort());
      }),
    );
  });

  it('steps a structured clone of the state (as persisted) to the same bits', () => {
    fc.assert(
      fc.property(midRun, ({ settings: s, global, update, earlier }) => {
        const strategy = createStrategy(s);
        const state = advance(s, global, earlier);
        const restored = structuredClone(state);
        strategy.validateState(restored, global.length);
        expect(strategy.step(restored, global, update)).toEqual(strategy.step(state, global, update));
      }),
    );
  });

  it('gives fresh zero vectors from initialState', () => {
    for (const name of STRATEGY_NAMES) {
      const strategy = createStrategy(DEFAULT_STRATEGY_SETTINGS[name]);
      const a = strategy.initialState(4);
      const b = strategy.initialState(4);
      expect(a.v).toBe(1);
      expect(a.step).toBe(0);
      for (const [key, x] of Object.entries(a.vectors)) {
        expect(x).toEqual(new Float64Array(4));
        expect(x).not.toBe(b.vectors[key]);
      }
      strategy.validateState(a, 4);
      expect(() => strategy.initialState(-1)).toThrow(RangeError);
    }
  });

  it('throws RangeError on mismatched lengths instead of computing NaNs', () => {
    for (const name of STRATEGY_NAMES) {
      const strategy = createStrategy(DEFAULT_STRATEGY_SETTINGS[name]);
      expect(() => strategy.step(strategy.initialState(3), new Float64Array(3), new Float64Array(2))).toThrow(
        `${name} step: expected an average update of 3 weights (the global model's), got 2`,
      );
      if (name !== 'fedavg') {
        expect(() => strategy.step(strategy.initialState(2), new Float64Array(3), new Float64Array(3))).toThrow(
          RangeError,
        );
      }
    }
  });
});
