import { beforeAll, describe, expect, it } from 'vitest';
import { initCrypto, type PetCrypto } from '../../crypto/sodium.ts';
import { PetError } from '../../errors.ts';
import { Aggregation } from '../../mask/aggregation.ts';
import type { MaskConfig } from '../../mask/config.ts';
import { deriveMask, Masker } from '../../mask/masker.ts';
import { decodeRoundParameters, encodeRoundParameters, verifyRoundPrivacy } from '../../message/round-parameters.ts';
import { fixtureSeed } from '../../testing/index.ts';
import { accountantEpsilon, addAccountantEvent, createAccountantState } from '../accountant/accountant.ts';
import { mechanismProblems } from '../accountant/mechanism.ts';
import { sampleMoments } from '../sampling/testing/goodness-of-fit.ts';
import {
  bitsPerCoordinate,
  distributedPrivacyProblem,
  planDistributedPrivacy,
  privatizeUpdate,
  releaseAverage,
  requiredUnits,
  unitRange,
  unitShift,
} from './distributed-noise.ts';
import {
  type DistributedRoundPrivacy,
  privacyRoundSeed,
  roundedNormBound,
  roundPrivacyMechanism,
} from './round-privacy.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

const B2: MaskConfig = { group: 'power2', data: 'f32', bound: 'b2', model: 'm3' };
const B0: MaskConfig = { group: 'prime', data: 'f32', bound: 'b0', model: 'm3' };
const seed = (i: number) => fixtureSeed(7000 + i);

function plan(
  mechanism: DistributedRoundPrivacy['mechanism'],
  dimension: number,
  participants = 5,
  noiseMultiplier = 1,
): DistributedRoundPrivacy {
  return planDistributedPrivacy({ mechanism, clipNorm: 1, noiseMultiplier, participants, dimension, maskConfig: B2 });
}

describe('planDistributedPrivacy', () => {
  it('takes the finest units whose update and noise still fit the mask range', () => {
    expect(unitShift(B2)).toBe(10); // E = 10^10 = 2^10·5^10
    expect(unitRange(B2)).toBe(100 * 1024);
    for (const mechanism of ['skellam', 'distributed-discrete-gaussian'] as const) {
      const p = plan(mechanism, 1000);
      expect(requiredUnits(p)).toBeLessThanOrEqual(unitRange(B2));
      const finer = plan(mechanism, 1000);
      expect(requiredUnits({ ...finer, ...noiseAt(mechanism, p.scale + 1, 1000, 5, 1) })).toBeGreaterThan(
        unitRange(B2),
      );
      // The noise on the sum is σ·Δ₂ units: variance (σΔ₂)² = n·2μ (Skellam) or n·σᵢ² (DG).
      const l2 = roundedNormBound(p.scale, 1000);
      const sumVariance = mechanism === 'skellam' ? 5 * 2 * p.noise : 5 * p.noise ** 2;
      expect(sumVariance).toBeCloseTo(l2 * l2, 6);
      expect(distributedPrivacyProblem(p, B2, 1000)).toBeUndefined();
      expect(bitsPerCoordinate(p)).toBeGreaterThan(17);
    }
  });

  it('keeps the noise within what the accountant takes, even where the range would allow more', () => {
    for (const maskConfig of [
      { group: 'power2', data: 'f64', bound: 'b6', model: 'm3' },
      { group: 'power2', data: 'f32', bound: 'b6', model: 'm3' },
    ] as const) {
      for (const mechanism of ['skellam', 'distributed-discrete-gaussian'] as const) {
        const p = planDistributedPrivacy({
          mechanism,
          clipNorm: 1,
          noiseMultiplier: 1,
          participants: 100,
          dimension: 1000,
          maskConfig,
        });
        expect(mechanismProblems('m', roundPrivacyMechanism(p))).toEqual([]);
        expect(
          accountantEpsilon(addAccountantEvent(createAccountantState(), roundPrivacyMechanism(p)), 1e-5).value,
        ).toBeGreaterThan(0);
      }
    }
  });

  it('refuses a config whose range cannot hold the noise, naming what to change', () => {
    const tight = () =>
      planDistributedPrivacy({
        mechanism: 'skellam',
        clipNorm: 1,
        noiseMultiplier: 1e4,
        participants: 1,
        dimension: 10,
        maskConfig: B0,
      });
    expect(tight).toThrow(/choose a larger bound/);
    const p = plan('skellam', 100);
    expect(distributedPrivacyProblem({ ...p, shift: 3 }, B2, 100)).toMatch(/shift/);
    expect(distributedPrivacyProblem(p, B2, 99)).toMatch(/model length 99/);
    expect(distributedPrivacyProblem({ ...p, noise: p.noise * 100 }, B2, 100)).toMatch(/would clamp/);
  });
});

/** The noise field a plan would have at another scale (same σ and n). */
function noiseAt(
  mechanism: DistributedRoundPrivacy['mechanism'],
  scale: number,
  dimension: number,
  n: number,
  sigma: number,
): { scale: number; noise: number } {
  const sd = sigma * roundedNormBound(scale, dimension);
  return { scale, noise: mechanism === 'skellam' ? (sd * sd) / (2 * n) : sd / Math.sqrt(n) };
}

describe('privatizeUpdate', () => {
  it('hands the masker exact multiples of 2^−s, whose secure sum is the participants’ integers added up', () => {
    const d = 300;
    const p = plan('skellam', d, 4);
    const updates = [0, 1, 2, 3].map((i) => Float64Array.from({ length: d }, (_, j) => Math.sin(i + j) * 0.05));
    const vectors = updates.map((u, i) => privatizeUpdate(crypto, p, B2, u, { seed: seed(i) }));
    const unit = 2 ** -p.shift;
    const sums = new Float64Array(d);
    for (const v of vectors) {
      for (let j = 0; j < d; j++) {
        const k = (v[j] as number) / unit;
        expect(Number.isInteger(k)).toBe(true);
        sums[j] = (sums[j] as number) + k;
      }
    }
    // Through real masking, aggregation and unmasking.
    const masker = new Masker(crypto, B2);
    const aggregation = new Aggregation(B2, d);
    const masks = new Aggregation(B2, d);
    for (const v of vectors) {
      const { seed: maskSeed, masked } = masker.mask(v, 1);
      aggregation.aggregate(masked);
      masks.aggregate(deriveMask(crypto, B2, maskSeed, d));
    }
    const average = aggregation.unmask(masks.toMaskObject());
    const released = releaseAverage(p, average);
    const gamma = p.clipNorm / p.scale;
    for (let j = 0; j < d; j++) {
      expect(released[j]).toBeCloseTo(((sums[j] as number) * gamma) / 4, 12);
    }
    // Same seed, same vector: the randomness is the seed's alone.
    expect(privatizeUpdate(crypto, p, B2, updates[0] as Float64Array, { seed: seed(0) })).toEqual(vectors[0]);
  });

  it('clips and rounds the update so that, without the noise, it is the clipped update in units', () => {
    const d = 64;
    const p = plan('distributed-discrete-gaussian', d, 1, 1e-4);
    expect(p.noise).toBeGreaterThanOrEqual(0.5);
    expect(() => plan('distributed-discrete-gaussian', d, 1, 1e-9)).toThrow(/below ½/);
    const x = Float64Array.from({ length: d }, (_, j) => (j % 2 === 0 ? 3 : -4)); // norm 5·√(d/2)… ≫ C
    const norm = Math.hypot(...x);
    const out = releaseAverage(p, privatizeUpdate(crypto, p, B2, x, { seed: seed(9) }));
    // Each coordinate: the clipped value, ± 1 unit of rounding, ± the noise (|η| < 6σ here).
    const gamma = p.clipNorm / p.scale;
    for (let j = 0; j < d; j++) {
      expect(Math.abs((out[j] as number) - (x[j] as number) / norm)).toBeLessThan((1 + 6 * p.noise) * gamma);
    }
  });

  it('adds noise with the planned variance, and n participants’ noise has n times it', () => {
    for (const mechanism of ['skellam', 'distributed-discrete-gaussian'] as const) {
      const d = 20_000;
      const n = 4;
      const p = plan(mechanism, d, n);
      const perParticipant = mechanism === 'skellam' ? 2 * p.noise : p.noise ** 2;
      const zero = new Float64Array(d); // rounds to 0 exactly: what is left is the noise
      const unit = 2 ** -p.shift;
      const sum = new Float64Array(d);
      for (let i = 0; i < n; i++) {
        const noise = privatizeUpdate(crypto, p, B2, zero, { seed: seed(100 + i) }).map((v) => v / unit);
        if (i === 0) {
          const m = sampleMoments(noise);
          expect(m.variance / perParticipant, mechanism).toBeGreaterThan(0.95);
          expect(m.variance / perParticipant, mechanism).toBeLessThan(1.05);
        }
        for (let j = 0; j < d; j++) sum[j] = (sum[j] as number) + (noise[j] as number);
      }
      const m = sampleMoments(sum);
      expect(m.variance / (n * perParticipant), mechanism).toBeGreaterThan(0.95);
      expect(m.variance / (n * perParticipant), mechanism).toBeLessThan(1.05);
    }
  });

  it('refuses a vector of the wrong length or parameters that do not fit the config', () => {
    const p = plan('skellam', 10);
    expect(() => privatizeUpdate(crypto, p, B2, new Float64Array(9))).toThrow(/model length 9/);
    expect(() => privatizeUpdate(crypto, p, B0, new Float64Array(10))).toThrow(PetError);
  });
});

describe('the round’s promise', () => {
  it('travels in the round parameters, bound into the seed', () => {
    const p = plan('skellam', 50);
    const coordinatorPk = crypto.encryptKeyPair().publicKey;
    const params = {
      roundId: 3,
      coordinatorPk,
      sumProbability: 0.5,
      updateProbability: 0.5,
      seed: privacyRoundSeed(crypto, coordinatorPk, p),
      maskConfig: B2,
      modelLength: 50,
      privacy: p,
    };
    const json = JSON.parse(JSON.stringify(encodeRoundParameters(params)));
    const decoded = decodeRoundParameters(json);
    expect(decoded.privacy).toEqual(p);
    expect(() => verifyRoundPrivacy(crypto, decoded)).not.toThrow();
    // A coordinator that announces less noise than the seed commits to is caught.
    const weaker = decodeRoundParameters({ ...json, privacy: { ...json.privacy, noise: p.noise / 2 } });
    expect(() => verifyRoundPrivacy(crypto, weaker)).toThrow(expect.objectContaining({ code: 'privacy-mismatch' }));
    // Malformed promises are invalid round parameters, every problem named.
    expect(() => decodeRoundParameters({ ...json, privacy: { ...json.privacy, noise: -1, extra: 1 } })).toThrow(
      /privacy\.extra: not a field.*privacy\.noise/,
    );
    expect(() => decodeRoundParameters({ ...json, modelLength: 49 })).toThrow(/privacy\.dimension/);
    expect(() => decodeRoundParameters({ ...json, privacy: { ...json.privacy, noise: p.noise * 1e4 } })).toThrow(
      /would clamp/,
    );
  });

  it('spends about what the Gaussian with the same noise multiplier spends', () => {
    const d = 10_000;
    for (const mechanism of ['skellam', 'distributed-discrete-gaussian'] as const) {
      const p = plan(mechanism, d, 10, 1.2);
      let discrete = createAccountantState();
      let gaussian = createAccountantState();
      for (let r = 0; r < 20; r++) {
        discrete = addAccountantEvent(discrete, roundPrivacyMechanism(p));
        gaussian = addAccountantEvent(gaussian, { kind: 'gaussian', noiseMultiplier: 1.2 });
      }
      const e = accountantEpsilon(discrete, 1e-5).value;
      const g = accountantEpsilon(gaussian, 1e-5).value;
      expect(e, mechanism).toBeGreaterThanOrEqual(g * 0.999);
      expect(e / g, mechanism).toBeLessThan(1.02);
    }
  });
});
