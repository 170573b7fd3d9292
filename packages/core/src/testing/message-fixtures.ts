/**
 * Deterministic fixtures for the message codec tests (golden vectors).
 *
 * Every key comes from a fixed seed, every masked model from a fixed mask
 * seed, so the encodings pinned in the tests never change unless the wire
 * format does. Sealed boxes are randomized, so encrypted mask seeds here are
 * byte patterns of the right length rather than real seals.
 * Not for production use: the seeds are public.
 */

import { compareBytes, toBase64Url } from '../bytes.ts';
import { taskSignature } from '../crypto/eligibility.ts';
import type { PetCrypto } from '../crypto/sodium.ts';
import { PetError } from '../errors.ts';
import type { MaskConfig } from '../mask/config.ts';
import type { MaskObject } from '../mask/mask-object.ts';
import { deriveMask, Masker } from '../mask/masker.ts';
import { ENCRYPTED_MASK_SEED_BYTES, type LocalSeedDict } from '../message/local-seed-dict.ts';
import type { Message } from '../message/message.ts';
import type { Sum } from '../message/sum.ts';
import type { Sum2 } from '../message/sum2.ts';
import type { Update } from '../message/update.ts';

/** The float-path config of the fixtures (order 2^51, 7 bytes per number). */
export const FLOAT_CONFIG: MaskConfig = { group: 'power2', data: 'f32', bound: 'b2', model: 'm3' };
/** The limbs-path config of the fixtures (a 108-bit prime, 14 bytes per number). */
export const LIMBS_CONFIG: MaskConfig = { group: 'prime', data: 'f64', bound: 'b6', model: 'm6' };

/** Lower-case hex (the golden vectors in the tests). */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(hex: string): Uint8Array {
  return Uint8Array.from({ length: hex.length / 2 }, (_, i) => Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16));
}

/**
 * The PetError code `fn` throws, `'no error'` if it returns, or `'not a PetError: …'`, so a
 * test can assert the exact code in one `expect`.
 */
export function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return e instanceof PetError ? e.code : `not a PetError: ${String(e)}`;
  }
  return 'no error';
}

/** 32 bytes all equal to `n`. */
export function fixedSeed(n: number): Uint8Array {
  return new Uint8Array(32).fill(n);
}

/** `length` bytes counting up from `start` (mod 256). */
export function bytePattern(length: number, start: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);
}

/** A model of exactly representable weights in [−2, 2] (no platform-dependent math). */
export function fixtureModel(length: number): number[] {
  return Array.from({ length }, (_, i) => (((i * 37) % 17) - 8) / 4);
}

export function fixtureMaskedModel(crypto: PetCrypto, config: MaskConfig, length: number, scalar = 0.5): MaskObject {
  return new Masker(crypto, config).mask(fixtureModel(length), scalar, fixedSeed(7)).masked;
}

export function fixtureKeys(crypto: PetCrypto) {
  return {
    participant: crypto.signingKeyPair(fixedSeed(1)),
    coordinator: crypto.encryptKeyPair(fixedSeed(2)),
    roundSeed: fixedSeed(3),
    ephemeral: crypto.encryptKeyPair(fixedSeed(4)),
    sumParticipants: [10, 11, 12].map((n) => crypto.signingKeyPair(fixedSeed(n))),
  };
}

export function fixtureSum(crypto: PetCrypto): Sum {
  const keys = fixtureKeys(crypto);
  return {
    sumSignature: taskSignature(crypto, keys.roundSeed, 'sum', keys.participant.secretKey),
    ephemeralPk: keys.ephemeral.publicKey,
  };
}

export function fixtureLocalSeedDict(crypto: PetCrypto): LocalSeedDict {
  const keys = fixtureKeys(crypto);
  return new Map(
    keys.sumParticipants.map((kp, i) => [toBase64Url(kp.publicKey), bytePattern(ENCRYPTED_MASK_SEED_BYTES, 16 * i)]),
  );
}

export function fixtureUpdate(crypto: PetCrypto, config: MaskConfig = FLOAT_CONFIG, length = 16): Update {
  const keys = fixtureKeys(crypto);
  return {
    sumSignature: taskSignature(crypto, keys.roundSeed, 'sum', keys.participant.secretKey),
    updateSignature: taskSignature(crypto, keys.roundSeed, 'update', keys.participant.secretKey),
    maskedModel: fixtureMaskedModel(crypto, config, length),
    localSeedDict: fixtureLocalSeedDict(crypto),
  };
}

/** Two update participants' Ed25519 public keys, sorted ascending bytewise: a Sum2's rejected seeds. */
export function fixtureRejectedSeeds(crypto: PetCrypto): Uint8Array[] {
  return [20, 21].map((n) => crypto.signingKeyPair(fixedSeed(n)).publicKey).sort(compareBytes);
}

export function fixtureSum2(
  crypto: PetCrypto,
  config: MaskConfig = FLOAT_CONFIG,
  length = 16,
  rejectedSeeds: readonly Uint8Array[] = fixtureRejectedSeeds(crypto),
): Sum2 {
  const keys = fixtureKeys(crypto);
  return {
    sumSignature: taskSignature(crypto, keys.roundSeed, 'sum', keys.participant.secretKey),
    aggregatedMask: deriveMask(crypto, config, fixedSeed(8), length),
    rejectedSeeds,
  };
}

/** The three messages of the fixtures, from the fixture participant to the fixture round key. */
export function fixtureMessages(crypto: PetCrypto): { sum: Message; update: Message; sum2: Message } {
  const keys = fixtureKeys(crypto);
  const base = { participantPk: keys.participant.publicKey, coordinatorPk: keys.coordinator.publicKey };
  return {
    sum: { ...base, payload: { kind: 'sum', sum: fixtureSum(crypto) } },
    update: { ...base, payload: { kind: 'update', update: fixtureUpdate(crypto) } },
    sum2: { ...base, payload: { kind: 'sum2', sum2: fixtureSum2(crypto) } },
  };
}
