import { beforeAll, describe, expect, it } from 'vitest';
import { initCrypto, type PetCrypto } from '../../crypto/sodium.ts';
import { PetError } from '../../errors.ts';
import { fixtureSeed } from '../../testing/index.ts';
import {
  applyPrivacyFilters,
  MAX_PRIVACY_FILTERS,
  type PrivacyFilter,
  validatePrivacyFilters,
} from './privacy-filter.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

const laplace: PrivacyFilter = { kind: 'laplace', epsilon: 0.5, norm: 'l1', bound: 10 };
const percentile: PrivacyFilter = { kind: 'percentile', fraction: 0.1, bound: 1 };
const svt: PrivacyFilter = {
  kind: 'svt',
  fraction: 0.1,
  threshold: 0.01,
  bound: 1,
  selectionEpsilon: 1,
  releaseEpsilon: 1,
};

function problemsOf(value: unknown): string {
  try {
    validatePrivacyFilters(value);
  } catch (error) {
    expect(error).toBeInstanceOf(PetError);
    expect((error as PetError).code).toBe('invalid-field');
    return (error as PetError).message;
  }
  throw new Error('expected validatePrivacyFilters to throw');
}

/** 1000 coordinates in (−1, 1), none zero. */
function sampleUpdate(): Float64Array {
  return new Float64Array(1000).map((_, i) => Math.sin(i + 1) * 0.9);
}

describe('validatePrivacyFilters', () => {
  it('accepts filters as JSON, returning fresh plain copies', () => {
    const json = JSON.parse(JSON.stringify([laplace, percentile, svt])) as unknown;
    const filters = validatePrivacyFilters(json);
    expect(filters).toEqual([laplace, percentile, svt]);
    expect(filters[0]).not.toBe((json as unknown[])[0]);
    expect(validatePrivacyFilters([])).toEqual([]);
  });

  it('names every bad field in one error', () => {
    const message = problemsOf([
      { kind: 'laplace', epsilon: 0, norm: 'l2', bound: -1 },
      { kind: 'percentile', fraction: 1.5, bound: Number.NaN, gamma: 1 },
      { kind: 'svt', fraction: 0, threshold: 2, bound: 1, selectionEpsilon: '1', releaseEpsilon: Infinity },
      { kind: 'gaussian' },
      5,
      { kind: 'laplace', norm: 'linf', bound: 1 },
    ]);
    expect(message).toMatch(/^privacy filters: /);
    for (const expected of [
      'filters[0].epsilon: expected a number in [0.000001, 1000000], got 0',
      'filters[0].norm: expected "l1" or "linf", got "l2"',
      'filters[0].bound: expected a number in [1e-100, 1e+100], got -1',
      'filters[1].fraction: expected a number in (0, 1], got 1.5',
      'filters[1].bound: expected a number in [1e-100, 1e+100], got NaN',
      'filters[1].gamma: not a field of percentile',
      'filters[2].fraction: expected a number in (0, 1], got 0',
      'filters[2].threshold: expected a number in [0, 1], got 2',
      'filters[2].selectionEpsilon: expected a number in [0.000001, 1000000], got "1"',
      'filters[2].releaseEpsilon: expected a number in [0.000001, 1000000], got Infinity',
      'filters[3].kind: expected one of laplace, percentile, svt, got "gaussian"',
      'filters[4]: expected a filter object, got 5',
      'filters[5].epsilon: expected a number in [0.000001, 1000000], got undefined',
    ]) {
      expect(message).toContain(expected);
    }
  });

  it('wants an array of at most MAX_PRIVACY_FILTERS filters', () => {
    expect(problemsOf({ kind: 'laplace' })).toContain('filters: expected an array, got an object');
    expect(problemsOf(Array(MAX_PRIVACY_FILTERS + 1).fill(percentile))).toContain(
      `filters: expected at most ${MAX_PRIVACY_FILTERS} filters, got ${MAX_PRIVACY_FILTERS + 1}`,
    );
  });
});

describe('applyPrivacyFilters', () => {
  it('applies the filters in order: Laplace after percentile fills the zeros with noise', () => {
    const update = sampleUpdate();
    const report = applyPrivacyFilters(crypto, update, [percentile, laplace], { seed: fixtureSeed(60) });
    expect(report.filters.map((f) => [f.kind, f.shared])).toEqual([
      ['percentile', 100],
      ['laplace', 1000],
    ]);
    expect(update.filter((v) => v === 0).length).toBe(0);
  });

  it('applies the filters in order: percentile after Laplace keeps 10 %', () => {
    const update = sampleUpdate();
    const report = applyPrivacyFilters(crypto, update, [laplace, percentile], { seed: fixtureSeed(61) });
    expect(report.filters.map((f) => [f.kind, f.shared])).toEqual([
      ['laplace', 1000],
      ['percentile', 100],
    ]);
    expect(update.filter((v) => v !== 0).length).toBe(100);
    expect(update.every((v) => Math.abs(v) <= 1)).toBe(true);
  });

  it('reports the smallest whole-update ε of the chain, or null', () => {
    const seed = fixtureSeed(62);
    const chain = applyPrivacyFilters(crypto, sampleUpdate(), [percentile, svt, laplace], { seed });
    expect(chain.filters.map((f) => f.epsilon)).toEqual([null, 2, 0.5]);
    expect(chain.epsilon).toBe(0.5);
    const linf = applyPrivacyFilters(crypto, sampleUpdate(), [{ ...laplace, norm: 'linf' }], { seed });
    expect(linf.filters[0]).toMatchObject({ epsilon: 500, coordinateEpsilon: 0.5 });
    expect(applyPrivacyFilters(crypto, sampleUpdate(), [percentile]).epsilon).toBeNull();
    const untouched = sampleUpdate();
    expect(applyPrivacyFilters(crypto, untouched, [])).toEqual({ filters: [], epsilon: null });
    expect(untouched).toEqual(sampleUpdate());
  });

  it('draws the same noise from the same seed, and fresh noise from the CSPRNG by default', () => {
    const run = (seed?: Uint8Array) => {
      const update = sampleUpdate();
      applyPrivacyFilters(crypto, update, [svt, laplace], seed === undefined ? {} : { seed });
      return update;
    };
    expect(run(fixtureSeed(63))).toEqual(run(fixtureSeed(63)));
    expect(run(fixtureSeed(63))).not.toEqual(run(fixtureSeed(64)));
    expect(run()).not.toEqual(run());
  });

  it('checks the filters and the update before touching it', () => {
    const update = sampleUpdate();
    update[7] = Number.NaN;
    expect(() => applyPrivacyFilters(crypto, update, [laplace])).toThrow(
      'update[7]: expected a finite number, got NaN',
    );
    const finite = sampleUpdate();
    const bad = [{ ...laplace, epsilon: -1 }] as PrivacyFilter[];
    expect(() => applyPrivacyFilters(crypto, finite, bad)).toThrow(/filters\[0\]\.epsilon/);
    // Planned before any filter runs: SVT's noise at this ε is out of the sampler's range.
    const tooSmall: PrivacyFilter = { ...svt, fraction: 1, selectionEpsilon: 1e-6 };
    const large = new Float64Array(10_000).fill(0.5);
    expect(() => applyPrivacyFilters(crypto, large, [percentile, tooSmall])).toThrow(/grid steps exceeds/);
    expect(large.every((v) => v === 0.5)).toBe(true);
    expect(finite).toEqual(sampleUpdate());
  });
});
