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

/**
 * The X25519 public keys libsodium refuses (its `has_small_order` list, protocol.md §5.1): the
 * u-coordinates 0 and 1, the two points of order 8, and p − 1, p and p + 1 (p = 2^255 − 19),
 * each as 64 hex digits of its little-endian encoding. X25519 ignores the top bit, so each with
 * bit 255 set is the same point too.
 */
export const SMALL_ORDER_X25519_HEX: readonly string[] = Object.freeze([
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
]);
