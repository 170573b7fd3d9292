/**
 * Masking and mask derivation (protocol.md §4.3, §5).
 *
 * An update participant draws a fresh 32-byte mask seed, expands it into a
 * ChaCha20 keystream and masks its model: the scalar's mask is drawn first,
 * then one mask per weight, in order. A sum participant re-derives the same
 * masks from the seeds it opens (`deriveMask`) and adds them up.
 */

import { expectLength } from '../bytes.ts';
import type { PetCrypto } from '../crypto/sodium.ts';
import { SEED_BYTES } from '../crypto/sodium.ts';
import { PetError } from '../errors.ts';
import { type MaskConfig, maskParams } from './config.ts';
import { type Elements, groupFor, packedByteLength } from './group.ts';
import type { MaskObject } from './mask-object.ts';
import { KeystreamReader } from './sampling.ts';

export interface MaskResult {
  // SECURITY: the mask seed opens this participant's model; it is sealed to each sum
  // participant and must be wiped by the caller once the local seed dictionary is built.
  readonly seed: Uint8Array;
  readonly masked: MaskObject;
}

function validateScalar(scalar: number): void {
  if (typeof scalar !== 'number' || !Number.isFinite(scalar) || scalar < 0) {
    throw new PetError('invalid-scalar', `scalar: expected a finite number ≥ 0, got ${scalar}`);
  }
}

function invalidValue(model: ArrayLike<number>, index: number): PetError {
  return new PetError('invalid-model-value', `model[${index}]: expected a finite number, got ${model[index]}`);
}

/**
 * Rejects NaN/±Infinity weights and non-finite or negative scalars. `Masker.mask` checks the
 * same inside its single pass; this is for callers that want to fail before any other work.
 */
export function validateModel(model: ArrayLike<number>, scalar: number): void {
  validateScalar(scalar);
  for (let i = 0; i < model.length; i++) {
    const w = model[i] as number;
    // w − w is 0 for every finite number and NaN for NaN and ±Infinity.
    if (w - w !== 0) throw invalidValue(model, i);
  }
}

export class Masker {
  private readonly crypto: PetCrypto;
  readonly config: MaskConfig;

  constructor(crypto: PetCrypto, config: MaskConfig) {
    this.crypto = crypto;
    this.config = config;
    maskParams(config); // validates the config eagerly
  }

  /**
   * Masks `scalar · model` and the scalar with a fresh seed (or the given one, for tests).
   * Models are clamped to ±A; NaN/Infinity is an `invalid-model-value` error.
   */
  mask(model: ArrayLike<number>, scalar = 1, seed?: Uint8Array): MaskResult {
    validateScalar(scalar);
    const maskSeed =
      seed === undefined ? this.crypto.randomBytes(SEED_BYTES) : expectLength(seed, SEED_BYTES, 'mask seed').slice();
    const params = maskParams(this.config);
    const group = groupFor(params);
    const reader = KeystreamReader.open(this.crypto.keystream(maskSeed), (1 + model.length) * params.bytesPerNumber);
    try {
      const scalarOut = group.alloc(1);
      group.maskScalar(scalar, reader, scalarOut);
      const vector = group.alloc(model.length);
      const invalid = group.maskInto(model, 0, model.length, scalar, reader, vector, 0);
      if (invalid >= 0) throw invalidValue(model, invalid);
      return { seed: maskSeed, masked: { config: this.config, length: model.length, vector, scalar: scalarOut } };
    } finally {
      reader.dispose();
    }
  }

  /**
   * Masks `scalar · model` under `seed` exactly as `mask` does and packs the masked vector
   * (protocol.md §3.6) straight into bytes[offset .. offset + packedByteLength(elementBits,
   * model.length)), a block of `MASK_BLOCK` elements at a time: no array of the whole model's
   * elements is made (issue 13: a participant's memory during a 10⁶-weight update). Returns the
   * masked scalar, one element, which the mask object carries after the vector.
   *
   * `seed` must be fresh from a CSPRNG, used for this one model only; the caller wipes it.
   */
  maskPacked(model: ArrayLike<number>, scalar: number, seed: Uint8Array, bytes: Uint8Array, offset: number): Elements {
    validateScalar(scalar);
    expectLength(seed, SEED_BYTES, 'mask seed');
    const params = maskParams(this.config);
    const group = groupFor(params);
    const length = model.length;
    const end = offset + packedByteLength(params.elementBits, length);
    if (!Number.isSafeInteger(offset) || offset < 0 || end > bytes.length) {
      throw new PetError(
        'invalid-field',
        `packed vector: ${end - offset} bytes at ${offset} do not fit in ${bytes.length} bytes`,
      );
    }
    const reader = KeystreamReader.open(this.crypto.keystream(seed), (1 + length) * params.bytesPerNumber);
    try {
      const scalarOut = group.alloc(1);
      group.maskScalar(scalar, reader, scalarOut);
      const block = group.alloc(Math.min(MASK_BLOCK, length));
      for (let from = 0; from < length; from += MASK_BLOCK) {
        const count = Math.min(MASK_BLOCK, length - from);
        const invalid = group.maskInto(model, from, count, scalar, reader, block, 0);
        if (invalid >= 0) throw invalidValue(model, invalid);
        group.write(block, count, bytes, offset + packedByteLength(params.elementBits, from));
      }
      return scalarOut;
    } finally {
      reader.dispose();
    }
  }
}

/**
 * Elements masked per block by `Masker.maskPacked`: 64 KiB of doubles on the float path. A
 * multiple of 8, so every block but the last packs into whole bytes (8 elements fill exactly
 * elementBits bytes, protocol.md §3.6) and starts on a byte boundary.
 */
export const MASK_BLOCK = 8192;

/** Derives the mask a seed expands to: the scalar's mask, then `length` weight masks. */
export function deriveMask(crypto: PetCrypto, config: MaskConfig, seed: Uint8Array, length: number): MaskObject {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new PetError('invalid-field', `mask length: expected a non-negative integer, got ${length}`);
  }
  const params = maskParams(config);
  const group = groupFor(params);
  const reader = KeystreamReader.open(crypto.keystream(seed), (1 + length) * params.bytesPerNumber);
  try {
    const scalar = group.alloc(1);
    group.draw(reader, scalar, 0, 1);
    const vector = group.alloc(length);
    group.draw(reader, vector, 0, length);
    return { config, length, vector, scalar };
  } finally {
    reader.dispose();
  }
}
