import { beforeAll, describe, expect, it } from 'vitest';
import { initCrypto, type PetCrypto } from '../../crypto/sodium.ts';
import { PetError } from '../../errors.ts';
import { fixtureSeed } from '../../testing/index.ts';
import { addNoise, sampleVector } from './integer-sampler.ts';
import { createNoiseSampler, type NoiseDistribution, noiseSampler } from './noise.ts';
import { seededRandomSource } from './random-source.ts';
import { rational, sigma2FromSigma } from './rational.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

const gaussian: NoiseDistribution = { kind: 'discrete-gaussian', sigma2: sigma2FromSigma(10) };
const skellam: NoiseDistribution = { kind: 'skellam', mu: rational(2500) };

describe('createNoiseSampler', () => {
  it('draws from libsodium’s CSPRNG by default, and from the keystream only with a seed', () => {
    const calls = { randomBytes: 0, keystream: 0 };
    const counting: PetCrypto = {
      ...crypto,
      randomBytes(length) {
        calls.randomBytes++;
        return crypto.randomBytes(length);
      },
      keystream(seed) {
        calls.keystream++;
        return crypto.keystream(seed);
      },
    };
    const a = createNoiseSampler(counting, skellam);
    const b = createNoiseSampler(counting, skellam);
    const xs = sampleVector(a, 200);
    expect(sampleVector(b, 200)).not.toEqual(xs);
    expect(calls.randomBytes).toBe(2); // one fresh key per MiB, per sampler
    createNoiseSampler(counting, skellam, { seed: fixtureSeed(70) }).sample();
    expect(calls.randomBytes).toBe(2);
  });

  it('with a seed: the same noise as the sampler over that seed’s source, for both kinds', () => {
    for (const distribution of [gaussian, skellam]) {
      const a = sampleVector(createNoiseSampler(crypto, distribution, { seed: fixtureSeed(71) }), 1000);
      const b = sampleVector(noiseSampler(distribution, seededRandomSource(crypto, fixtureSeed(71))), 1000);
      expect(a).toEqual(b);
    }
  });

  it('addNoise adds exactly the vector sampleVector draws from the same seed', () => {
    const target = new Int32Array(1000).map((_, i) => i * 1000 - 500_000);
    const original = target.slice();
    addNoise(target, createNoiseSampler(crypto, gaussian, { seed: fixtureSeed(72) }));
    const noise = sampleVector(createNoiseSampler(crypto, gaussian, { seed: fixtureSeed(72) }), 1000, 'int32');
    expect(target.map((v, i) => v - (original[i] as number))).toEqual(noise);
  });

  it('throws after dispose(), and checks parameters before any draw', () => {
    const sampler = createNoiseSampler(crypto, gaussian);
    sampler.sample();
    sampler.dispose();
    expect(() => sampler.sample()).toThrow(PetError);
    expect(() => createNoiseSampler(crypto, { kind: 'discrete-gaussian', sigma2: rational(0) })).toThrow(
      /sigma2: expected 0 < σ²/,
    );
    expect(() => createNoiseSampler(crypto, { kind: 'skellam', mu: rational(-1) })).toThrow(/mu: expected 0 ≤ μ/);
  });
});
