import { beforeAll, describe, expect, it } from 'vitest';
import { initCrypto, type PetCrypto } from '../../crypto/sodium.ts';
import { PetError } from '../../errors.ts';
import { fixtureSeed } from '../../testing/index.ts';
import { checkLaplaceScale, sampleDiscreteLaplace } from './discrete-laplace.ts';
import { seededRandomSource } from './random-source.ts';
import { chiSquareTest } from './testing/goodness-of-fit.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

/** Lap_Z(t/s): ∝ exp(−|x|·s/t), normalised numerically. */
function laplacePmf(t: number, s: number) {
  const r = Math.ceil((40 * t) / s) + 5;
  const p = new Float64Array(2 * r + 1);
  let total = 0;
  for (let x = -r; x <= r; x++) total += p[x + r] = Math.exp((-Math.abs(x) * s) / t);
  for (let i = 0; i < p.length; i++) p[i] = (p[i] as number) / total;
  return { lo: -r, p };
}

describe('sampleDiscreteLaplace (Canonne, Kamath & Steinke, Algorithm 2)', () => {
  it('matches the pmf exp(−|x|·s/t) (chi-square at fixed seeds)', () => {
    for (const [t, s, label] of [
      [1, 1, 20],
      [7, 1, 21],
      [10, 3, 22],
    ] as const) {
      const source = seededRandomSource(crypto, fixtureSeed(label));
      const xs = Array.from({ length: 15_000 }, () => sampleDiscreteLaplace(source, t, s));
      const test = chiSquareTest(xs, laplacePmf(t, s));
      expect(test.statistic, `t=${t} s=${s}: p = ${test.pValue}`).toBeLessThan(test.critical);
    }
  });

  it('checks its scale parameters', () => {
    expect(() => checkLaplaceScale(0, 1)).toThrow(PetError);
    expect(() => checkLaplaceScale(2 ** 32 + 1, 1)).toThrow(PetError);
    expect(() => checkLaplaceScale(3, 1.5)).toThrow(PetError);
    expect(() => checkLaplaceScale(2 ** 32, 1)).not.toThrow();
  });
});
