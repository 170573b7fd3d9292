import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rounds as roundsOf } from '../../../test-support/strategy-arbitraries.ts';
import { createStrategy, type StrategySettings, type StrategyState } from './strategy.ts';

/** A global model and the average updates of a few consecutive rounds. */
const rounds = roundsOf(8);
const settings = fc.record({
  name: fc.constant('fedyogi' as const),
  serverLearningRate: fc.double({ min: 1e-4, max: 1, noNaN: true }),
  serverMomentum: fc.constant(0),
  beta1: fc.double({ min: 0, max: 0.999, noNaN: true }),
  beta2: fc.double({ min: 0, max: 0.999, noNaN: true }),
  tau: fc.double({ min: 1e-9, max: 1, noNaN: true }),
});

/** Yogi on plain numbers, one weight at a time, with v's sign rule spelled out as branches. */
function reference(s: StrategySettings, x0: Float64Array, updates: readonly Float64Array[]) {
  const x = Array.from(x0);
  const m = x.map(() => 0);
  const v = x.map(() => 0);
  for (const d of updates) {
    for (let i = 0; i < x.length; i++) {
      const di = d[i] as number;
      const square = di * di;
      const vi = v[i] as number;
      m[i] = s.beta1 * (m[i] as number) + (1 - s.beta1) * di;
      if (vi > square) v[i] = vi - (1 - s.beta2) * square;
      else if (vi < square) v[i] = vi + (1 - s.beta2) * square;
      x[i] = (x[i] as number) + (s.serverLearningRate * (m[i] as number)) / (Math.sqrt(v[i] as number) + s.tau);
    }
  }
  return { x, m, v };
}

const close = (got: number, want: number) => Math.abs(got - want) <= 1e-10 * (1 + Math.abs(want));

describe('fedyogi', () => {
  it('follows the Yogi recurrences over several rounds, keeping v ≥ 0', () => {
    fc.assert(
      fc.property(rounds, settings, ([x0, updates], s) => {
        const strategy = createStrategy(s);
        let state: StrategyState = strategy.initialState(x0.length);
        let x: Float64Array = x0;
        for (const d of updates) {
          ({ model: x, state } = strategy.step(state, x, d));
          for (const value of state.vectors['v'] ?? []) expect(value).toBeGreaterThanOrEqual(0);
        }
        const want = reference(s, x0, updates);
        for (let i = 0; i < x0.length; i++) {
          expect(close(x[i] as number, want.x[i] as number)).toBe(true);
          expect(close(state.vectors['m']?.[i] as number, want.m[i] as number)).toBe(true);
          expect(close(state.vectors['v']?.[i] as number, want.v[i] as number)).toBe(true);
        }
      }),
    );
  });

  it('leaves v unchanged where it equals Δ̄² (sign 0)', () => {
    const strategy = createStrategy({
      name: 'fedyogi',
      serverLearningRate: 0.01,
      serverMomentum: 0,
      beta1: 0.9,
      beta2: 0.99,
      tau: 1e-3,
    });
    const state: StrategyState = { v: 1, step: 3, vectors: { m: new Float64Array([0.5]), v: new Float64Array([4]) } };
    const next = strategy.step(state, new Float64Array([0]), new Float64Array([-2]));
    expect(next.state.vectors['v']?.[0]).toBe(4);
  });
});
