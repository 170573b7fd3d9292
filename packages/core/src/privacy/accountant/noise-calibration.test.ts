import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isPetError } from '../../errors.ts';
import { calibrateNoiseMultiplier, subsampledGaussianEpsilon } from './noise-calibration.ts';

function code(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    if (isPetError(error)) return `${error.code}: ${error.message}`;
    throw error;
  }
  return 'no error';
}

describe('noise calibration', () => {
  it('reaches the target from below: ε(σ) ≤ target, and a slightly smaller σ overshoots', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.2, max: 10, noNaN: true }),
        fc.constantFrom(1, 0.2, 0.05, 0.01, 0.001),
        fc.integer({ min: 1, max: 2000 }),
        fc.constantFrom(1e-5, 1e-6),
        (targetEpsilon, samplingRate, rounds, delta) => {
          const sigma = calibrateNoiseMultiplier({ targetEpsilon, delta, rounds, samplingRate, tolerance: 1e-7 });
          expect(subsampledGaussianEpsilon(sigma, samplingRate, rounds, delta)).toBeLessThanOrEqual(targetEpsilon);
          expect(subsampledGaussianEpsilon(sigma * (1 - 1e-6), samplingRate, rounds, delta)).toBeGreaterThan(
            targetEpsilon,
          );
        },
      ),
      { numRuns: 25 },
    );
  });

  it('gives more noise for a smaller target', () => {
    const at = (targetEpsilon: number) =>
      calibrateNoiseMultiplier({ targetEpsilon, delta: 1e-5, rounds: 100, samplingRate: 0.05 });
    expect(at(1)).toBeGreaterThan(at(2));
    expect(at(2)).toBeGreaterThan(at(8));
  });

  it('refuses an unreachable target', () => {
    expect(
      code(() => calibrateNoiseMultiplier({ targetEpsilon: 1e-9, delta: 1e-9, rounds: 1e9, samplingRate: 1 })),
    ).toBe(
      'invalid-field: noise calibration: targetEpsilon: no noise multiplier up to 1000000 reaches ε = 1e-9 at δ = 1e-9',
    );
  });

  it('names invalid inputs', () => {
    expect(
      code(() =>
        calibrateNoiseMultiplier({ targetEpsilon: 0, delta: 2, rounds: 1.5, samplingRate: 0, orders: [1.5, 1.2] }),
      ),
    ).toBe(
      'invalid-field: noise calibration: targetEpsilon: expected a number in (0, 1000000], got 0; ' +
        'delta: expected a number in (0, 1], got 2; rounds: expected an integer in [1, 1000000000000], got 1.5; ' +
        'samplingRate: expected a number in (0, 1], got 0; ' +
        'orders[1]: expected orders in increasing order, got 1.2 after 1.5',
    );
  });
});
