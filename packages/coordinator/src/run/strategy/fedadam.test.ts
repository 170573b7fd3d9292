import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rounds as roundsOf } from '../../../test-support/strategy-arbitraries.ts';
import { createStrategy, DEFAULT_STRATEGY_SETTINGS, type StrategySettings, type StrategyState } from './strategy.ts';

/** A global model and the average updates of a few consecutive rounds. */
const rounds = roundsOf(8);
const settings = fc.record({
  name: fc.constant('fedadam' as const),
  serverLearningRate: fc.double({ min: 1e-4, max: 1, noNaN: true }),
  serverMomentum: fc.constant(0),
  beta1: fc.double({ min: 0, max: 0.999, noNaN: true }),
  beta2: fc.double({ min: 0, max: 0.999, noNaN: true }),
  tau: fc.double({ min: 1e-9, max: 1, noNaN: true }),
});

/**
 * Flower's FedAdam written out on plain numbers, one weight at a time: Adam's moments, and the step
 * size bias-corrected with the exponent Flower uses, its 1-based round + 1 (round r = step t + 1).
 */
function reference(s: StrategySettings, x0: Float64Array, updates: readonly Float64Array[]) {
  const x = Array.from(x0);
  const m = x.map(() => 0);
  const v = x.map(() => 0);
  updates.forEach((d, t) => {
    const round = t + 1;
    const lr = (s.serverLearningRate * Math.sqrt(1 - s.beta2 ** (round + 1))) / (1 - s.beta1 ** (round + 1));
    for (let i = 0; i < x.length; i++) {
      const di = d[i] as number;
      m[i] = s.beta1 * (m[i] as number) + (1 - s.beta1) * di;
      v[i] = s.beta2 * (v[i] as number) + (1 - s.beta2) * di * di;
      x[i] = (x[i] as number) + (lr * (m[i] as number)) / (Math.sqrt(v[i] as number) + s.tau);
    }
  });
  return { x, m, v };
}

const close = (got: number, want: number) => Math.abs(got - want) <= 1e-10 * (1 + Math.abs(want));

describe('fedadam', () => {
  it('follows the moment recurrences and the bias-corrected step over several rounds', () => {
    fc.assert(
      fc.property(rounds, settings, ([x0, updates], s) => {
        const strategy = createStrategy(s);
        let state: StrategyState = strategy.initialState(x0.length);
        let x: Float64Array = x0;
        for (const d of updates) ({ model: x, state } = strategy.step(state, x, d));
        const want = reference(s, x0, updates);
        for (let i = 0; i < x0.length; i++) {
          expect(close(x[i] as number, want.x[i] as number)).toBe(true);
          expect(close(state.vectors['m']?.[i] as number, want.m[i] as number)).toBe(true);
          expect(close(state.vectors['v']?.[i] as number, want.v[i] as number)).toBe(true);
        }
        expect(state.step).toBe(updates.length);
      }),
    );
  });

  it('bias-corrects its first step with β², as Flower does (not β¹ as Adam would)', () => {
    const s = DEFAULT_STRATEGY_SETTINGS.fedadam;
    const strategy = createStrategy(s);
    const { model, state } = strategy.step(strategy.initialState(1), new Float64Array([1]), new Float64Array([2]));
    // m = 0.1·2 = 0.2, v = 0.01·4 = 0.04, η₁ = 0.1·√(1 − 0.99²)/(1 − 0.9²)
    expect(state.vectors['m']?.[0]).toBeCloseTo(0.2, 15);
    expect(state.vectors['v']?.[0]).toBeCloseTo(0.04, 15);
    const eta1 = (0.1 * Math.sqrt(1 - 0.99 ** 2)) / (1 - 0.9 ** 2);
    expect(model[0]).toBeCloseTo(1 + (eta1 * 0.2) / (0.2 + s.tau), 14);
  });

  it('does not move a weight whose updates are all zero', () => {
    fc.assert(
      fc.property(rounds, settings, ([x0, updates], s) => {
        const strategy = createStrategy(s);
        let state: StrategyState = strategy.initialState(x0.length);
        let x: Float64Array = x0;
        for (const d of updates)
          ({ model: x, state } = strategy.step(
            state,
            x,
            d.map(() => 0),
          ));
        for (let i = 0; i < x0.length; i++) expect(x[i] === x0[i]).toBe(true);
      }),
    );
  });
});
