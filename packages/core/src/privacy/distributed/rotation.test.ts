import { beforeAll, describe, expect, it } from 'vitest';
import { initCrypto, type PetCrypto } from '../../crypto/sodium.ts';
import { PetError } from '../../errors.ts';
import type { MaskConfig } from '../../mask/config.ts';
import { fixtureSeed } from '../../testing/index.ts';
import { planDistributedPrivacy, privatizeUpdate, releaseAverage } from './distributed-noise.ts';
import { rotate, unrotate } from './rotation.ts';
import {
  canonicalRoundPrivacy,
  privacyRoundSeed,
  roundPrivacyProblems,
  validateRoundPrivacy,
} from './round-privacy.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

const B2: MaskConfig = { group: 'power2', data: 'f32', bound: 'b2', model: 'm3' };
const norm = (v: ArrayLike<number>) => Math.hypot(...Array.from(v));

describe('the randomized Hadamard rotation', () => {
  it('is H·D: signs from the round seed, then a normalized Walsh–Hadamard transform per power-of-two block', () => {
    // d = 6: blocks of 4 and 2. Rotating each unit vector gives the columns of H·D.
    const d = 6;
    const seed = fixtureSeed(1);
    const columns = Array.from({ length: d }, (_, j) => {
      const e = new Float64Array(d);
      e[j] = 1;
      rotate(crypto, seed, e);
      return e;
    });
    const H4 = [
      [1, 1, 1, 1],
      [1, -1, 1, -1],
      [1, 1, -1, -1],
      [1, -1, -1, 1],
    ];
    const H2 = [
      [1, 1],
      [1, -1],
    ];
    for (let j = 0; j < d; j++) {
      const column = columns[j] as Float64Array;
      // Column j of H·D is ±(column j of H): one sign per coordinate, the same for the whole column.
      const sign = j < 4 ? Math.sign((column[0] as number) * (H4[0]?.[j] as number)) : Math.sign(column[4] as number);
      for (let i = 0; i < d; i++) {
        const h =
          j < 4 ? (i < 4 ? (H4[i]?.[j] as number) / 2 : 0) : i >= 4 ? (H2[i - 4]?.[j - 4] as number) / Math.SQRT2 : 0;
        expect(column[i]).toBeCloseTo(sign * h, 14);
      }
    }
    // The signs come from the seed: another round, another D.
    const signs = (s: Uint8Array) =>
      Array.from({ length: 64 }, (_, j) => {
        const e = new Float64Array(64);
        e[j] = 1;
        rotate(crypto, s, e);
        return Math.sign(e[0] as number);
      });
    expect(signs(fixtureSeed(2))).not.toEqual(signs(fixtureSeed(3)));
    expect(signs(fixtureSeed(2))).toEqual(signs(fixtureSeed(2)));
  });

  it('keeps the norm, is undone by unrotate, and spreads a peaked vector over every coordinate', () => {
    const seed = fixtureSeed(4);
    for (const d of [1, 2, 7, 1024, 25_450]) {
      const x = Float64Array.from({ length: d }, (_, j) => Math.sin(j * 1.7) * (j % 5));
      const y = x.slice();
      rotate(crypto, seed, y);
      expect(norm(y)).toBeCloseTo(norm(x), 10);
      unrotate(crypto, seed, y);
      for (let j = 0; j < d; j++) expect(y[j]).toBeCloseTo(x[j] as number, 12);
    }
    const peaked = new Float64Array(1024);
    peaked[17] = 1;
    rotate(crypto, seed, peaked);
    for (const v of peaked) expect(Math.abs(v)).toBeCloseTo(1 / 32, 14);
  });

  it('refuses a round seed of the wrong length', () => {
    expect(() => rotate(crypto, new Uint8Array(31), new Float64Array(4))).toThrow(PetError);
  });
});

describe('a round that rotates (privacy.rotation = "hadamard")', () => {
  const plan = (rotation?: 'hadamard') =>
    planDistributedPrivacy({
      mechanism: 'distributed-discrete-gaussian',
      clipNorm: 1,
      noiseMultiplier: 1e-4,
      participants: 1,
      dimension: 100,
      maskConfig: B2,
      ...(rotation === undefined ? {} : { rotation }),
    });

  it('is part of the promise: validated, in the canonical text and so in the round seed', () => {
    const rotating = plan('hadamard');
    expect(rotating.rotation).toBe('hadamard');
    expect(canonicalRoundPrivacy(rotating)).toMatch(/,"rotation":"hadamard"}$/);
    const pk = fixtureSeed(5);
    expect(privacyRoundSeed(crypto, pk, rotating)).not.toEqual(privacyRoundSeed(crypto, pk, plan()));
    expect(validateRoundPrivacy(rotating)).toEqual(rotating);
    expect(roundPrivacyProblems('privacy', { ...rotating, rotation: 'fourier' })).toEqual([
      'privacy.rotation: expected one of hadamard, got "fourier"',
    ]);
    expect(
      roundPrivacyProblems('privacy', {
        mechanism: 'central-gaussian',
        clipNorm: 1,
        dimension: 3,
        noiseMultiplier: 1,
        rotation: 'hadamard',
      }),
    ).toEqual(['privacy.rotation: not a field of central-gaussian']);
  });

  it('participants rotate before rounding; the release rotates back to the clipped update', () => {
    const p = plan('hadamard');
    const roundSeed = fixtureSeed(6);
    const x = Float64Array.from({ length: 100 }, (_, j) => (j === 3 ? 0.6 : j === 70 ? -0.3 : 0.0001 * j));
    const sent = privatizeUpdate(crypto, p, B2, x, { seed: fixtureSeed(7), roundSeed });
    // What travels is rotated: the peaked update's energy is spread over every coordinate.
    const { rotation: _rotated, ...unrotated } = p;
    const plain = releaseAverage(unrotated, sent);
    expect(Math.max(...plain.map(Math.abs))).toBeLessThan(0.15); // 0.6 before the rotation
    const released = releaseAverage(p, sent, { crypto, roundSeed });
    const gamma = p.clipNorm / p.scale;
    const scale = Math.min(1, 1 / norm(x));
    // Rounding moves each rotated coordinate by < 1 unit (plus the tiny noise): ≤ √d units in norm.
    const error = norm(released.map((v, j) => v - (x[j] as number) * scale));
    expect(error).toBeLessThan((Math.sqrt(100) + 6 * p.noise * 10) * gamma);
    expect(() => privatizeUpdate(crypto, p, B2, x)).toThrow(/round seed is needed/);
    expect(() => releaseAverage(p, sent)).toThrow(/round seed is needed/);
  });
});
