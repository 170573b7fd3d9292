import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { initCrypto, type PetCrypto } from '../../crypto/sodium.ts';
import { fixtureSeed } from '../../testing/index.ts';
import { type DisposableRandomSource, seededRandomSource } from '../sampling/random-source.ts';
import { applyLaplace, clipToGrid, type LaplaceFilter, planLaplace } from './laplace.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

function withSource<T>(label: number, run: (source: DisposableRandomSource) => T): T {
  const source = seededRandomSource(crypto, fixtureSeed(label));
  try {
    return run(source);
  } finally {
    source.dispose();
  }
}

function meanAndVariance(xs: ArrayLike<number>): { mean: number; variance: number } {
  let mean = 0;
  for (let i = 0; i < xs.length; i++) mean += xs[i] as number;
  mean /= xs.length;
  let variance = 0;
  for (let i = 0; i < xs.length; i++) variance += ((xs[i] as number) - mean) ** 2;
  return { mean, variance: variance / (xs.length - 1) };
}

function expectNear(actual: Float64Array, expected: readonly number[], tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  for (const [i, x] of expected.entries())
    expect(Math.abs((actual[i] as number) - x), `[${i}]`).toBeLessThan(tolerance);
}

/** The variance of Lap_Z(t/s) in real units: 2q/(1 − q)²·g², q = exp(−s/t). */
function laplaceVariance(t: number, s: number, step: number): number {
  const q = Math.exp(-s / t);
  return ((2 * q) / (1 - q) ** 2) * step * step;
}

describe('Laplace filter', () => {
  it('adds noise of scale 2·bound/ε on the grid, with the right mean and variance', () => {
    const filter: LaplaceFilter = { kind: 'laplace', epsilon: 1, norm: 'linf', bound: 1 };
    const plan = planLaplace(filter);
    expect(plan.grid.step * plan.grid.radius).toBe(1);
    // The scale in real units is 2·bound/ε = 2, rounded up by less than 2^−30.
    const realScale = (plan.scale.t / plan.scale.s) * plan.grid.step;
    expect(realScale).toBeGreaterThanOrEqual(2);
    expect(realScale).toBeLessThan(2 * (1 + 2 ** -30));

    const n = 20_000;
    const update = new Float64Array(n).fill(0.25);
    const outcome = withSource(1, (source) => applyLaplace(plan, update, source));
    expect(outcome).toEqual({ kind: 'laplace', shared: n, epsilon: n, coordinateEpsilon: 1 });
    for (const v of update) expect(Number.isInteger(v / plan.grid.step)).toBe(true);
    const { mean, variance } = meanAndVariance(update);
    const expected = laplaceVariance(plan.scale.t, plan.scale.s, plan.grid.step); // ≈ 2·2² = 8
    expect(expected).toBeCloseTo(8, 6);
    expect(Math.abs(mean - 0.25)).toBeLessThan(0.06); // 3 standard errors: √(8/20000) = 0.02
    expect(variance / expected).toBeGreaterThan(0.95);
    expect(variance / expected).toBeLessThan(1.05);
  });

  it('clamps each coordinate to the bound before the noise (linf)', () => {
    const filter: LaplaceFilter = { kind: 'laplace', epsilon: 1e6, norm: 'linf', bound: 1 };
    const update = new Float64Array([5, -5, 0.3, -0.2, 1e300, 0]);
    withSource(2, (source) => applyLaplace(planLaplace(filter), update, source));
    const expected = [1, -1, 0.3, -0.2, 1, 0];
    // Noise of scale 2·10^−6: far below the tolerance.
    expectNear(update, expected, 1e-4);
  });

  it('scales the update into the L1 ball of the bound (l1), and guarantees ε for the whole update', () => {
    const filter: LaplaceFilter = { kind: 'laplace', epsilon: 1e6, norm: 'l1', bound: 2 };
    const update = new Float64Array([3, 1, 0, -4]);
    const outcome = withSource(3, (source) => applyLaplace(planLaplace(filter), update, source));
    expect(outcome).toEqual({ kind: 'laplace', shared: 4, epsilon: 1e6, coordinateEpsilon: 1e6 });
    expectNear(update, [0.75, 0.25, 0, -1], 1e-4);
  });

  it('leaves an update already inside the L1 ball where it was (up to the grid)', () => {
    const filter: LaplaceFilter = { kind: 'laplace', epsilon: 1, norm: 'l1', bound: 10 };
    const { grid } = planLaplace(filter);
    const update = new Float64Array([1.5, -2.25, 0.125]);
    const m = clipToGrid(update, 'l1', 10, grid);
    expect(Array.from(m, (x) => x * grid.step)).toEqual([1.5, -2.25, 0.125]);
  });

  it('rounds onto the grid with Σ|m| ≤ R for any update (l1) and |m| ≤ R (linf)', () => {
    const plan = planLaplace({ kind: 'laplace', epsilon: 0.5, norm: 'l1', bound: 3 });
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e300, max: 1e300, noNaN: true }), { minLength: 1, maxLength: 200 }),
        (values) => {
          const update = Float64Array.from(values);
          const { radius: R } = plan.grid;
          const l1 = clipToGrid(update, 'l1', 3, plan.grid);
          let total = 0;
          for (const m of l1) {
            expect(Number.isInteger(m)).toBe(true);
            total += Math.abs(m);
          }
          expect(total).toBeLessThanOrEqual(R);
          for (const m of clipToGrid(update, 'linf', 3, plan.grid)) {
            expect(Number.isInteger(m) && Math.abs(m) <= R).toBe(true);
          }
        },
      ),
    );
  });

  it('keeps Σ|m| ≤ R when the float clip lands just above the bound', () => {
    // 0.1 + 0.2 + 0.3 + … in doubles overshoots their exact sum: the integer check must catch it.
    const plan = planLaplace({ kind: 'laplace', epsilon: 1e6, norm: 'l1', bound: 1 });
    const update = new Float64Array(1000).map((_, i) => (i % 7) * 0.1 + 1e-3);
    let total = 0;
    for (const m of clipToGrid(update, 'l1', 1, plan.grid)) total += Math.abs(m);
    expect(total).toBeLessThanOrEqual(plan.grid.radius);
    expect(total).toBeGreaterThan(plan.grid.radius * (1 - 1e-9));
  });

  it('fills zeros with noise: nothing tells which coordinates were zero', () => {
    const plan = planLaplace({ kind: 'laplace', epsilon: 1, norm: 'linf', bound: 0.01 });
    const update = new Float64Array(1000);
    withSource(4, (source) => applyLaplace(plan, update, source));
    expect(update.filter((v) => v === 0).length).toBe(0);
  });
});
