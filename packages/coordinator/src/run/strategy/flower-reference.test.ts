/**
 * Our strategies against Flower's own: test-data/flower-strategies.json holds, for each strategy and
 * a few hyper-parameter settings, the models and example counts of the participants over five
 * consecutive rounds, and after each round the global model Flower's `aggregate_fit` made of them
 * and the vectors Flower keeps between rounds (float64; scripts/reference/README.md says how it was
 * made and how to remake it). We replay the rounds through our strategy with the average update
 * Δ̄ = Σ nᵢ·(yᵢ − x) / Σ nᵢ computed here, carrying our own state from round to round.
 *
 * Each round starts from Flower's previous global model x (the initial one in round 1): the model
 * the participants' models were made from. Starting from our own instead would replay fixed models
 * against a slightly different x, and an adaptive step multiplies that difference by up to
 * |1 − η/(√v + τ)| every round (FedAdagrad's ∂x_{t+1}/∂x_t), far above 1 for small updates: that
 * would test the replay, not the rule. Our state — step, moments, momentum — is never taken from Flower.
 *
 * Tolerance: relative error ≤ 1e-6; for model weights where |Flower's value| < 1e-3 an absolute
 * error ≤ 1e-9 instead (near 0 a relative error says nothing). State vectors are held to the relative
 * bound throughout: second moments are squares of small updates (down to ~1e-10 here), where any
 * absolute floor would accept nonsense. Flower computes the same formulas in a different order (it
 * averages the models, then subtracts x; we average the updates), so the two differ by rounding
 * only: the largest relative errors in this file are about 3e-14 (models) and 2e-12 (state).
 */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  createStrategy,
  DEFAULT_STRATEGY_SETTINGS,
  STRATEGY_NAMES,
  type StrategySettings,
  type StrategyState,
} from './strategy.ts';

interface FlowerCase {
  readonly id: string;
  readonly settings: StrategySettings;
  readonly flower: { readonly class: string; readonly kwargs: Readonly<Record<string, number>> };
  readonly initial: readonly number[];
  readonly rounds: readonly {
    readonly serverRound: number;
    readonly clients: readonly { readonly numExamples: number; readonly model: readonly number[] }[];
    readonly global: readonly number[];
    /** The vectors Flower keeps, under our names (FedAvgM keeps none when β = 0; FedAvg none at all). */
    readonly state: Readonly<Record<string, readonly number[]>>;
  }[];
}

const reference = JSON.parse(
  readFileSync(new URL('../../../../../test-data/flower-strategies.json', import.meta.url), 'utf8'),
) as {
  readonly flower: { readonly commit: string };
  readonly dtype: string;
  readonly cases: readonly FlowerCase[];
};

const RELATIVE = 1e-6;
const NEAR_ZERO = 1e-3;
const ABSOLUTE = 1e-9;

/** Σ nᵢ·(yᵢ − x) / Σ nᵢ, the example-weighted average update. */
function averageUpdate(x: Float64Array, clients: FlowerCase['rounds'][number]['clients']): Float64Array {
  const sum = new Float64Array(x.length);
  let total = 0;
  for (const { numExamples, model } of clients) {
    total += numExamples;
    for (let i = 0; i < x.length; i++)
      sum[i] = (sum[i] as number) + numExamples * ((model[i] as number) - (x[i] as number));
  }
  for (let i = 0; i < x.length; i++) sum[i] = (sum[i] as number) / total;
  return sum;
}

describe('the Flower reference vectors', () => {
  it('come from a pinned Flower commit, in float64, for every strategy over at least 4 rounds', () => {
    expect(reference.flower.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(reference.dtype).toBe('float64');
    expect(new Set(reference.cases.map((c) => c.settings.name))).toEqual(new Set(STRATEGY_NAMES));
    for (const c of reference.cases) {
      expect(c.rounds.length).toBeGreaterThanOrEqual(4);
      expect(c.rounds.map((r) => r.serverRound)).toEqual(c.rounds.map((_, i) => i + 1));
    }
  });

  it('were made with our defaults wherever Flower ran on its own', () => {
    for (const c of reference.cases.filter((c) => Object.keys(c.flower.kwargs).length === 0)) {
      expect(c.settings, c.id).toEqual(DEFAULT_STRATEGY_SETTINGS[c.settings.name]);
    }
  });
});

/** Within RELATIVE of Flower's values, or ABSOLUTE of those under `nearZero` in magnitude. */
function expectClose(got: ArrayLike<number>, want: readonly number[], what: string, nearZero: number): void {
  expect(got.length, what).toBe(want.length);
  want.forEach((w, i) => {
    const g = got[i] as number;
    const error = Math.abs(g - w);
    const ok = Math.abs(w) < nearZero ? error <= ABSOLUTE : error <= RELATIVE * Math.abs(w);
    expect(ok, `${what}[${i}]: got ${g}, Flower ${w}`).toBe(true);
  });
}

describe.each(reference.cases.map((c) => [c.id, c] as const))('%s against Flower', (_, c) => {
  it(`matches Flower's ${c.flower.class} round after round`, () => {
    const strategy = createStrategy(c.settings);
    let x = Float64Array.from(c.initial);
    let state: StrategyState = strategy.initialState(x.length);
    for (const round of c.rounds) {
      let model: Float64Array;
      ({ model, state } = strategy.step(state, x, averageUpdate(x, round.clients)));
      expectClose(model, round.global, `round ${round.serverRound} model`, NEAR_ZERO);
      for (const [name, vector] of Object.entries(round.state)) {
        expectClose(state.vectors[name] ?? [], vector, `round ${round.serverRound} ${name}`, 0);
      }
      x = Float64Array.from(round.global);
    }
    expect(state.step).toBe(c.rounds.length);
    strategy.validateState(state, x.length);
  });
});
