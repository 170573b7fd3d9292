import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyPercentile } from './percentile.ts';

describe('percentile filter', () => {
  it('keeps exactly the largest fraction by |value|, clamped, and zeroes the rest', () => {
    const update = new Float64Array([0.1, -0.9, 0.5, 0.3, -0.7, 0.2, 0.05, 0.8, -0.4, 0.6]);
    const outcome = applyPercentile({ kind: 'percentile', fraction: 0.3, bound: 0.75 }, update);
    expect(outcome).toEqual({ kind: 'percentile', shared: 3, epsilon: null, coordinateEpsilon: null });
    expect(Array.from(update)).toEqual([0, -0.75, 0, 0, -0.7, 0, 0, 0.75, 0, 0]);
  });

  it('breaks ties at the cutoff by the lowest index', () => {
    const update = new Float64Array([1, -1, 1, 0.5, -1, 2]);
    applyPercentile({ kind: 'percentile', fraction: 0.5, bound: 10 }, update);
    expect(Array.from(update)).toEqual([1, -1, 0, 0, 0, 2]);
  });

  it('takes ⌈fraction·n⌉ as the fraction is meant (0.7 of 10 is 7)', () => {
    const update = new Float64Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(applyPercentile({ kind: 'percentile', fraction: 0.7, bound: 100 }, update).shared).toBe(7);
    expect(Array.from(update)).toEqual([0, 0, 0, 4, 5, 6, 7, 8, 9, 10]);
    const small = new Float64Array([3, -1, 2]);
    expect(applyPercentile({ kind: 'percentile', fraction: 0.01, bound: 100 }, small).shared).toBe(1);
    expect(Array.from(small)).toEqual([3, 0, 0]);
  });

  it('with fraction 1 only clamps', () => {
    const update = new Float64Array([3, -0.5, -7]);
    applyPercentile({ kind: 'percentile', fraction: 1, bound: 2 }, update);
    expect(Array.from(update)).toEqual([2, -0.5, -2]);
    expect(applyPercentile({ kind: 'percentile', fraction: 0.5, bound: 2 }, new Float64Array()).shared).toBe(0);
  });

  it('keeps k coordinates, none smaller in |value| than one it dropped (any update)', () => {
    const nonZero = fc.double({ min: -100, max: 100, noNaN: true }).filter((v) => v !== 0);
    fc.assert(
      fc.property(
        fc.array(nonZero, { minLength: 1, maxLength: 300 }),
        fc.double({ min: 1e-3, max: 1, noNaN: true }),
        (values, fraction) => {
          const update = Float64Array.from(values);
          const { shared } = applyPercentile({ kind: 'percentile', fraction, bound: 1000 }, update);
          expect(shared).toBe(Math.ceil(fraction * values.length * (1 - 2 ** -50)));
          for (const [i, v] of values.entries()) expect(update[i] === v || update[i] === 0).toBe(true);
          const kept = values.filter((_, i) => update[i] !== 0).map(Math.abs);
          const dropped = values.filter((_, i) => update[i] === 0).map(Math.abs);
          expect(kept.length).toBe(shared);
          if (dropped.length > 0) expect(Math.min(...kept)).toBeGreaterThanOrEqual(Math.max(...dropped));
        },
      ),
    );
  });
});
