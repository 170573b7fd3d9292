import { beforeAll, describe, expect, it } from 'vitest';
import { initCrypto, type PetCrypto } from '../../crypto/sodium.ts';
import { PetError } from '../../errors.ts';
import { fixtureSeed } from '../../testing/index.ts';
import { seededRandomSource } from '../sampling/random-source.ts';
import { exactRational } from '../sampling/rational.ts';
import { applySvt, planSvt, type SvtFilter, splitSelectionEpsilon } from './svt.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

function runSvt(filter: SvtFilter, update: Float64Array, label: number) {
  const plan = planSvt(filter, update.length);
  const source = seededRandomSource(crypto, fixtureSeed(label));
  try {
    return { plan, outcome: applySvt(plan, update, source) };
  } finally {
    source.dispose();
  }
}

const nonZero = (update: Float64Array) => update.filter((v) => v !== 0).length;

describe('SVT filter (Lyu, Su & Li, Algorithm 7)', () => {
  it('with a huge ε selects exactly the coordinates above the threshold, with their values', () => {
    const n = 200;
    const original = new Float64Array(n).map((_, i) => (i % 10) * 0.01); // |value| ≤ 0.09
    const above = [3, 17, 42, 43, 99, 100, 150, 151, 152, 199];
    above.forEach((i, k) => {
      original[i] = (k % 2 === 0 ? 1 : -1) * (0.7 + k * 0.01);
    });
    original[60] = 5; // clamped to the bound
    const update = original.slice();
    const filter: SvtFilter = {
      kind: 'svt',
      fraction: 0.2,
      threshold: 0.5,
      bound: 1,
      selectionEpsilon: 1e6,
      releaseEpsilon: 1e6,
    };
    const { plan, outcome } = runSvt(filter, update, 10);
    expect(plan.cap).toBe(40);
    expect(outcome).toEqual({ kind: 'svt', shared: 11, epsilon: 2e6, coordinateEpsilon: 2e6 });
    const selected = [...update.keys()].filter((i) => update[i] !== 0);
    expect(selected).toEqual([...above, 60].sort((a, b) => a - b));
    for (const i of above) expect(Math.abs((update[i] as number) - (original[i] as number))).toBeLessThan(1e-3);
    expect(Math.abs((update[60] as number) - 1)).toBeLessThan(1e-3);
  });

  it('never releases more than ⌈fraction·n⌉ coordinates at a moderate ε', () => {
    const filter: SvtFilter = {
      kind: 'svt',
      fraction: 0.05,
      threshold: 0.1,
      bound: 1,
      selectionEpsilon: 1,
      releaseEpsilon: 1,
    };
    for (let label = 20; label < 30; label++) {
      const all = new Float64Array(1000).fill(0.9); // every coordinate above the threshold
      const high = runSvt(filter, all, label);
      expect(high.plan.cap).toBe(50);
      expect(high.outcome.shared).toBe(50);
      expect(nonZero(all)).toBe(50);
      const none = new Float64Array(1000).fill(0.01); // none above it
      const low = runSvt({ ...filter, threshold: 0.9 }, none, label);
      expect(low.outcome.shared).toBeLessThanOrEqual(50);
      expect(nonZero(none)).toBe(low.outcome.shared);
    }
  });

  it('visits the coordinates in a random order, so the cap does not favour the first ones', () => {
    const filter: SvtFilter = {
      kind: 'svt',
      fraction: 0.01,
      threshold: 0.1,
      bound: 1,
      selectionEpsilon: 1e6,
      releaseEpsilon: 1e6,
    };
    const picks = [31, 32].map((label) => {
      const update = new Float64Array(1000).fill(0.5);
      runSvt(filter, update, label);
      return [...update.keys()].filter((i) => update[i] !== 0);
    });
    expect(picks[0]?.length).toBe(10);
    expect(picks[0]?.some((i) => i >= 10)).toBe(true);
    expect(picks[0]).not.toEqual(picks[1]);
  });

  it('releases values with Laplace noise of scale 2c·bound/releaseEpsilon, on the grid', () => {
    const n = 20_000;
    const original = new Float64Array(n).map((_, i) => (i % 2 === 0 ? (i % 4 === 0 ? 0.5 : -0.5) : 0));
    const update = original.slice();
    const scale = 0.05; // 2c·bound/ε₃ with c = 10 000
    const filter: SvtFilter = {
      kind: 'svt',
      fraction: 0.5,
      threshold: 0.25,
      bound: 1,
      selectionEpsilon: 1e6,
      releaseEpsilon: (2 * 10_000) / scale,
    };
    const { plan, outcome } = runSvt(filter, update, 40);
    const { step: g, radius: R } = plan.grid;
    const { t, s } = plan.releaseNoise;
    expect(((t / s) * g) / scale).toBeGreaterThanOrEqual(1);
    expect(((t / s) * g) / scale).toBeLessThan(1 + 2 ** -30);
    const diffs: number[] = [];
    for (let i = 0; i < n; i++) {
      const v = update[i] as number;
      if (v === 0) continue;
      expect(Number.isInteger(v / g) && Math.abs(v / g) <= R).toBe(true);
      diffs.push(v - (original[i] as number));
    }
    // Almost exactly the 10 000 coordinates of |value| 0.5 (the selection noise has scale ~0.02).
    expect(outcome.shared).toBeGreaterThan(9_900);
    expect(diffs.length).toBe(outcome.shared);
    const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
    const variance = diffs.reduce((a, d) => a + (d - mean) ** 2, 0) / (diffs.length - 1);
    const q = Math.exp(-s / t);
    const expected = ((2 * q) / (1 - q) ** 2) * g * g; // ≈ 2·0.05²
    expect(expected / (2 * scale * scale)).toBeCloseTo(1, 6);
    expect(Math.abs(mean)).toBeLessThan(3 * Math.sqrt(expected / diffs.length));
    expect(variance / expected).toBeGreaterThan(0.93);
    expect(variance / expected).toBeLessThan(1.07);
  });

  it('splits the selection budget 1 : (2c)^(2/3), exactly summing to it', () => {
    const [e1, e2] = splitSelectionEpsilon(0.3, 4);
    const total = exactRational(0.3);
    expect((e1.num * e2.den + e2.num * e1.den) * total.den).toBe(total.num * e1.den * e2.den);
    expect(e1.num > 0n && e2.num > 0n).toBe(true);
    expect(Number(e2.num) / Number(e2.den) / (Number(e1.num) / Number(e1.den))).toBeCloseTo(8 ** (2 / 3), 9);
  });

  it('refuses a cap whose noise the sampler cannot draw', () => {
    const filter: SvtFilter = {
      kind: 'svt',
      fraction: 1,
      threshold: 0,
      bound: 1,
      selectionEpsilon: 1e-6,
      releaseEpsilon: 1,
    };
    expect(() => planSvt(filter, 1_000_000)).toThrow(PetError);
    expect(() => planSvt(filter, 1_000_000)).toThrow(
      /svt filter (threshold|query) noise: the noise scale of .* grid steps exceeds/,
    );
    expect(planSvt({ ...filter, selectionEpsilon: 1 }, 1000).cap).toBe(1000);
  });

  it('does nothing to an empty update', () => {
    const filter: SvtFilter = {
      kind: 'svt',
      fraction: 0.5,
      threshold: 0,
      bound: 1,
      selectionEpsilon: 1,
      releaseEpsilon: 1,
    };
    expect(runSvt(filter, new Float64Array(), 50).outcome.shared).toBe(0);
  });
});
