/**
 * Checking an X25519 public key before anything is sealed to it (protocol.md §5.1).
 *
 * A sum participant chooses its ephemeral public key, and update participants seal their mask
 * seeds to it (§1.1, §3.8); the coordinator chooses the round key every participant seals its
 * messages to (§3.2). A hostile sender can pick a key X25519 accepts but that is no key at all:
 *
 * - a **small-order point**: X25519 of any secret with it is one of at most 8 values (all-zero
 *   for the points libsodium lists), so the "shared" key is known to everyone and libsodium's
 *   `crypto_box_seal` refuses it with a bare `Error('invalid usage')`;
 * - a **non-canonical encoding**: X25519 ignores bit 255 and reduces u modulo p = 2^255 − 19, so
 *   `u`, `u + p` (where that fits in 255 bits) and either with bit 255 set are one key under up
 *   to four encodings — a second encoding of a key already in a dictionary would pass as another.
 *
 * `checkEncryptPublicKey` rejects both, and every wrong length, with `PetError('invalid-key')`
 * naming the field. The coordinator runs it on every Sum message's ephemeral key; the crypto
 * gate runs it before every seal.
 */

import { PetError } from '../errors.ts';

/** X25519 public (and secret) keys are 32 bytes (RFC 7748 §5). */
export const ENCRYPT_PUBLIC_KEY_BYTES = 32;

/** 32 bytes from hex text, least significant byte first (the little-endian encoding of u). */
function le(hex: string): Uint8Array {
  return Uint8Array.from({ length: 32 }, (_, i) => Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16));
}

/** `low` then 30 bytes 0xff then 0x7f: p − 1, p and p + 1 (p = 2^255 − 19). */
const nearP = (low: number): Uint8Array => {
  const out = new Uint8Array(32).fill(0xff);
  out[0] = low;
  out[31] = 0x7f;
  return out;
};

/** p = 2^255 − 19, little-endian. */
const P = nearP(0xed);

/**
 * The u-coordinates (bit 255 clear) of the small-order points X25519 accepts — our copy of the
 * blocklist in libsodium's `crypto_scalarmult_curve25519` (`has_small_order`, which compares
 * ignoring bit 255, as we do). Curve25519 has 8 points of small order: the point at infinity
 * and (0, 0), two of order 4 and four of order 8; on the x-line they are 4 u-values (a point
 * and its negative share u): 0, 1 and the two order-8 u's below. Its quadratic twist, which
 * X25519 also accepts, adds its own order-4 u, p − 1. 0 and 1 also have the non-canonical
 * encodings p and p + 1 (u + p < 2^255 only for u < 19). Each of the 7 is also rejected with
 * bit 255 set. The test derives the same set from the group orders, independently of this list.
 */
export const SMALL_ORDER_ENCODINGS: readonly Uint8Array[] = Object.freeze([
  new Uint8Array(32), // 0: (0, 0), order 2, and the point at infinity of the x-only ladder
  le(`01${'00'.repeat(31)}`), // 1: order 4 (on the curve)
  // 325606250916557431795983626356110631294008115727848805560023387167927233504: order 8
  le('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800'),
  // 39382357235489614581723060781553021112529911719440698176882885853963445705823: order 8
  le('5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157'),
  nearP(0xec), // p − 1: order 4 (on the twist)
  P, // p ≡ 0, non-canonical
  nearP(0xee), // p + 1 ≡ 1, non-canonical
]);

/** Whether `pk` with bit 255 cleared equals `encoding` (which has bit 255 clear). */
function equalsIgnoringTopBit(pk: Uint8Array, encoding: Uint8Array): boolean {
  for (let i = 0; i < 31; i++) if (pk[i] !== encoding[i]) return false;
  return ((pk[31] as number) & 0x7f) === encoding[31];
}

/** u ≥ p for a 255-bit little-endian u (bit 255 clear). */
function atLeastP(pk: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const a = i === 31 ? (pk[i] as number) & 0x7f : (pk[i] as number);
    const b = P[i] as number;
    if (a !== b) return a > b;
  }
  return true; // equal to p
}

/**
 * Throws `PetError('invalid-key', '<field>: …')` unless `pk` is a usable X25519 public key: 32
 * bytes, the canonical encoding (bit 255 clear, u < p), and not a small-order point. Public
 * keys only: nothing here is secret, so nothing needs to run in constant time.
 */
export function checkEncryptPublicKey(pk: Uint8Array, field: string): void {
  if (!(pk instanceof Uint8Array) || pk.length !== ENCRYPT_PUBLIC_KEY_BYTES) {
    const got = pk instanceof Uint8Array ? `${pk.length} bytes` : typeof pk;
    throw new PetError(
      'invalid-key',
      `${field}: expected a ${ENCRYPT_PUBLIC_KEY_BYTES}-byte X25519 public key, got ${got}`,
    );
  }
  for (const encoding of SMALL_ORDER_ENCODINGS) {
    if (equalsIgnoringTopBit(pk, encoding)) {
      throw new PetError(
        'invalid-key',
        `${field}: expected an X25519 public key, got a small-order point (every shared secret with it is public)`,
      );
    }
  }
  if (((pk[31] as number) & 0x80) !== 0) {
    throw new PetError('invalid-key', `${field}: expected a canonical X25519 public key, got one with bit 255 set`);
  }
  if (atLeastP(pk)) {
    throw new PetError(
      'invalid-key',
      `${field}: expected a canonical X25519 public key (u < 2^255 − 19), got u ≥ 2^255 − 19`,
    );
  }
}
