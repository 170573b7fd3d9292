/**
 * The randomized Hadamard rotation of distributed noise (docs/privacy.md §2, protocol.md §3.9):
 * an update participant rotates its clipped update before rounding and noise; the coordinator
 * rotates the released average back. The papers this follows (Kairouz, Liu & Steinke, ICML 2021;
 * Agarwal, Kairouz & Liu, NeurIPS 2021) rotate so that the update's energy is spread evenly over
 * the coordinates: each coordinate is then about C/√d, far from the worst case C, and rounding
 * treats every coordinate alike however peaked the update was.
 *
 * R = H·D: D is a diagonal of random signs ±1, H is block-diagonal with normalized Walsh–Hadamard
 * matrices H_b/√b over the binary decomposition of d (the largest power of two ≤ d first, then the
 * largest that fits the rest, …), so no padding is needed and the vector keeps its length. Both
 * factors are orthogonal and symmetric, and each is its own inverse: R⁻¹ = D·H. The rotation is
 * public (it is drawn from the round seed every participant signs), a fixed orthogonal map: it
 * changes neither the L2 sensitivity nor the noise's per-coordinate variance, so the accountant's
 * figures hold unchanged (post-processing).
 *
 * D's signs: bit j of the ChaCha20 keystream under SHA-256("petfl/rotation/v1" ‖ round seed),
 * little-endian within each byte; bit = 1 flips the sign of coordinate j.
 */

import { type PetCrypto, SEED_BYTES } from '../../crypto/sodium.ts';
import { PetError } from '../../errors.ts';

/** The rotations a round may announce. */
export const ROTATIONS = ['hadamard'] as const;
export type Rotation = (typeof ROTATIONS)[number];

const DOMAIN = Uint8Array.from('petfl/rotation/v1', (ch) => ch.charCodeAt(0));

/** The sign bits of D for a round, one per coordinate (bit = 1: negate). */
function signBits(crypto: PetCrypto, roundSeed: Uint8Array, dimension: number): Uint8Array {
  if (roundSeed.length !== SEED_BYTES) {
    throw new PetError(
      'invalid-field',
      `rotation: expected a ${SEED_BYTES}-byte round seed, got ${roundSeed.length} bytes`,
    );
  }
  const input = new Uint8Array(DOMAIN.length + roundSeed.length);
  input.set(DOMAIN, 0);
  input.set(roundSeed, DOMAIN.length);
  const stream = crypto.keystream(crypto.hash(input));
  try {
    return stream.next(Math.ceil(dimension / 8)).slice();
  } finally {
    stream.dispose();
  }
}

function applySigns(vector: Float64Array, bits: Uint8Array): void {
  for (let j = 0; j < vector.length; j++) {
    if ((((bits[j >> 3] as number) >> (j & 7)) & 1) === 1) vector[j] = -(vector[j] as number);
  }
}

/** H·x in place: the normalized fast Walsh–Hadamard transform over each power-of-two block of d. */
function hadamardBlocks(vector: Float64Array): void {
  let offset = 0;
  let rest = vector.length;
  while (rest > 0) {
    const size = 2 ** Math.floor(Math.log2(rest));
    for (let h = 1; h < size; h *= 2) {
      for (let i = offset; i < offset + size; i += 2 * h) {
        for (let j = i; j < i + h; j++) {
          const a = vector[j] as number;
          const b = vector[j + h] as number;
          vector[j] = a + b;
          vector[j + h] = a - b;
        }
      }
    }
    const norm = 1 / Math.sqrt(size);
    for (let j = offset; j < offset + size; j++) vector[j] = (vector[j] as number) * norm;
    offset += size;
    rest -= size;
  }
}

/** R·x = H·D·x, in place: what a participant does to its clipped update. */
export function rotate(crypto: PetCrypto, roundSeed: Uint8Array, vector: Float64Array): void {
  applySigns(vector, signBits(crypto, roundSeed, vector.length));
  hadamardBlocks(vector);
}

/** R⁻¹·y = D·H·y, in place: what the coordinator does to the released average. */
export function unrotate(crypto: PetCrypto, roundSeed: Uint8Array, vector: Float64Array): void {
  hadamardBlocks(vector);
  applySigns(vector, signBits(crypto, roundSeed, vector.length));
}
