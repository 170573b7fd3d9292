/**
 * @petfl/core/testing — deterministic fixtures for other packages' tests.
 *
 * Everything here is derived from fixed seeds, so two runs (or two platforms)
 * produce the same keys, round parameters and models. Never use these keys
 * outside tests: their secrets are public.
 */

import type { EncryptKeyPair, PetCrypto, SigningKeyPair } from '../crypto/sodium.ts';
import type { MaskConfig } from '../mask/config.ts';

/** The config of the benchmarks and the demo: power-of-two group, f32, bound 10², up to 10³ models. */
export const FIXTURE_CONFIG: MaskConfig = Object.freeze({ group: 'power2', data: 'f32', bound: 'b2', model: 'm3' });

/** A float-path prime config and a limbs-path config, for tests that must cover both paths. */
export const FIXTURE_PRIME_CONFIG: MaskConfig = Object.freeze({
  group: 'prime',
  data: 'f32',
  bound: 'b0',
  model: 'm3',
});
export const FIXTURE_LIMBS_CONFIG: MaskConfig = Object.freeze({
  group: 'prime',
  data: 'f64',
  bound: 'b6',
  model: 'm6',
});

/** 32 bytes: `label` byte then 0, 1, 2, … — a distinct fixed seed per label. */
export function fixtureSeed(label: number): Uint8Array {
  const seed = new Uint8Array(32);
  for (let i = 0; i < 32; i++) seed[i] = (label + i) & 0xff;
  seed[0] = label & 0xff;
  return seed;
}

/** The i-th participant's Ed25519 identity key pair (deterministic). */
export function fixtureSigningKeyPair(crypto: PetCrypto, index: number): SigningKeyPair {
  return crypto.signingKeyPair(fixtureSeed(0x40 + index));
}

/** The i-th X25519 key pair (round keys, ephemeral keys), deterministic. */
export function fixtureEncryptKeyPair(crypto: PetCrypto, index: number): EncryptKeyPair {
  return crypto.encryptKeyPair(fixtureSeed(0x80 + index));
}

/**
 * A deterministic model of `length` weights in (−1, 1): a xorshift32 stream seeded by `index`,
 * rounded to float32 (what a tf.js model holds).
 */
export function fixtureModel(length: number, index = 0): Float32Array {
  const out = new Float32Array(length);
  let x = (0x9e3779b9 ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = (x / 0x100000000) * 2 - 1;
  }
  return out;
}

/** The exact scalar-weighted average Σ sᵢwᵢ / Σ sᵢ in doubles (a reference for tests, not exact). */
export function weightedAverage(models: readonly ArrayLike<number>[], scalars: readonly number[]): Float64Array {
  const first = models[0];
  if (!first) return new Float64Array(0);
  const out = new Float64Array(first.length);
  let total = 0;
  models.forEach((model, j) => {
    const s = scalars[j] ?? 1;
    total += s;
    for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) + s * (model[i] as number);
  });
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / total;
  return out;
}
