import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rounds as roundsOf } from '../../../test-support/strategy-arbitraries.ts';
import { createStrategy, DEFAULT_STRATEGY_SETTINGS, type StrategyState } from './strategy.ts';

/** A global model and the average updates of a few consecutive rounds. */
const rounds = roundsOf(6, 1e3);
const eta = fc.double({ min: 1e-3, max: 2, noNaN: true });
const beta = fc.double({ min: 0, max: 0.999, noNaN: true });

/** The rule written out on plain numbers: m ← β·m + (x − average), x ← x − η·m. */
function reference(eta: number, beta: number, x0: Float64Array, updates: readonly Float64Array[]): number[] {
  const x = Array.from(x0);
  const m = x.map(() => 0);
  for (const d of updates) {
    for (let i = 0; i < x.length; i++) {
      const average = (x[i] as number) + (d[i] as number);
      const pseudoGradient = (x[i] as number) - average;
      m[i] = beta * (m[i] as number) + pseudoGradient;
      x[i] = (x[i] as number) - eta * (m[i] as number);
    }
  }
  return x;
}

function run(settings: Parameters<typeof createStrategy>[0], x0: Float64Array, updates: readonly Float64Array[]) {
  const strategy = createStrategy(settings);
  let state: StrategyState = strategy.initialState(x0.length);
  let x: Float64Array = x0;
  for (const d of updates) ({ model: x, state } = strategy.step(state, x, d));
  return { x, state };
}

describe('fedavgm', () => {
  it('with β = 0 is FedAvg with the same η, round after round', () => {
    fc.assert(
      fc.property(rounds, eta, ([x0, updates], serverLearningRate) => {
        const m = run({ ...DEFAULT_STRATEGY_SETTINGS.fedavgm, serverLearningRate, serverMomentum: 0 }, x0, updates);
        const a = run({ ...DEFAULT_STRATEGY_SETTINGS.fedavg, serverLearningRate }, x0, updates);
        for (let i = 0; i < x0.length; i++) expect(m.x[i] === a.x[i]).toBe(true);
      }),
    );
  });

  it('follows m ← β·m + (x − average), x ← x − η·m over several rounds', () => {
    fc.assert(
      fc.property(rounds, eta, beta, ([x0, updates], serverLearningRate, serverMomentum) => {
        const { x, state } = run(
          { ...DEFAULT_STRATEGY_SETTINGS.fedavgm, serverLearningRate, serverMomentum },
          x0,
          updates,
        );
        const want = reference(serverLearningRate, serverMomentum, x0, updates);
        for (let i = 0; i < x0.length; i++) {
          expect(Math.abs((x[i] as number) - (want[i] as number))).toBeLessThanOrEqual(
            1e-9 * (1 + Math.abs(want[i] as number)),
          );
        }
        expect(state.step).toBe(updates.length);
      }),
    );
  });

  it('keeps the first round’s pseudo-gradient as its momentum (Flower’s m₁ = g₁)', () => {
    const strategy = createStrategy({ ...DEFAULT_STRATEGY_SETTINGS.fedavgm, serverMomentum: 0.9 });
    const { state } = strategy.step(
      strategy.initialState(3),
      new Float64Array([1, 2, 3]),
      new Float64Array([0.5, -1, 0]),
    );
    expect(Array.from(state.vectors['momentum'] ?? [])).toEqual([-0.5, 1, 0]);
  });
});
