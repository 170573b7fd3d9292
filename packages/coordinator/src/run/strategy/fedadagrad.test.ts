import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rounds as roundsOf } from '../../../test-support/strategy-arbitraries.ts';
import { createStrategy, DEFAULT_STRATEGY_SETTINGS, type StrategySettings, type StrategyState } from './strategy.ts';

/** A global model and the average updates of a few consecutive rounds. */
const rounds = roundsOf(8);
const settings = fc.record({
  name: fc.constant('fedadagrad' as const),
  serverLearningRate: fc.double({ min: 1e-4, max: 1, noNaN: true }),
  serverMomentum: fc.constant(0),
  beta1: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.999, noNaN: true })),
  beta2: fc.double({ min: 0, max: 0.999, noNaN: true }),
  tau: fc.double({ min: 1e-9, max: 1, noNaN: true }),
});

/** Adagrad on plain numbers, one weight at a time: v sums the squared updates; β₂ plays no part. */
function reference(s: StrategySettings, x0: Float64Array, updates: readonly Float64Array[]) {
  const x = Array.from(x0);
  const m = x.map(() => 0);
  const v = x.map(() => 0);
  for (const d of updates) {
    for (let i = 0; i < x.length; i++) {
      const di = d[i] as number;
      m[i] = s.beta1 * (m[i] as number) + (1 - s.beta1) * di;
      v[i] = (v[i] as number) + di * di;
      x[i] = (x[i] as number) + (s.serverLearningRate * (m[i] as number)) / (Math.sqrt(v[i] as number) + s.tau);
    }
  }
  return { x, m, v };
}

const close = (got: number, want: number) => Math.abs(got - want) <= 1e-10 * (1 + Math.abs(want));

describe('fedadagrad', () => {
  it('follows the Adagrad recurrences over several rounds', () => {
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
      }),
    );
  });

  it('with Flower’s β₁ = 0 takes m = Δ̄ exactly, and ignores β₂', () => {
    fc.assert(
      fc.property(rounds, fc.double({ min: 0, max: 0.999, noNaN: true }), ([x0, updates], beta2) => {
        const a = createStrategy(DEFAULT_STRATEGY_SETTINGS.fedadagrad);
        const b = createStrategy({ ...DEFAULT_STRATEGY_SETTINGS.fedadagrad, beta2 });
        let sa: StrategyState = a.initialState(x0.length);
        let sb: StrategyState = b.initialState(x0.length);
        let xa: Float64Array = x0;
        let xb: Float64Array = x0;
        for (const d of updates) {
          ({ model: xa, state: sa } = a.step(sa, xa, d));
          ({ model: xb, state: sb } = b.step(sb, xb, d));
          for (let i = 0; i < x0.length; i++) expect(sa.vectors['m']?.[i] === d[i]).toBe(true);
        }
        expect(xb).toEqual(xa);
      }),
    );
  });
});
