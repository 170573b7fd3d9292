/**
 * The checks libsodium's `crypto_sign_verify_detached` makes before it evaluates the Ed25519
 * equation, so that a verifier that only evaluates the equation (OpenSSL, crypto/native.ts)
 * reaches the same verdict (docs/decisions/0013-native-crypto-on-node.md):
 *
 * - S, the signature's second half, is canonical: below the group order L;
 * - R, its first half, and the public key are not points of small order (order 1, 2, 4 or 8),
 *   whatever the sign bit of their encoding;
 * - the public key's y coordinate is canonical: below p = 2^255 − 19.
 *
 * These are facts about the curve, not about any library: the y coordinates of the eight
 * torsion points are 0, 1, p − 1, Y8 and p − Y8, and p and p + 1 encode 0 and 1 non-canonically.
 * All inputs here are public.
 */

const P = (1n << 255n) - 19n;
/** L = 2^252 + 27742317777372353535851937790883648493, the order of the base point. */
const L = (1n << 252n) + 27742317777372353535851937790883648493n;
/** The y coordinate of two of the four points of order 8 (p − Y8 is the other two's). */
const Y8 = 0x05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826n;

/** The little-endian number in the 32 bytes at `offset`; with `y`, without the top (sign) bit. */
function little(bytes: Uint8Array, offset: number, y = false): bigint {
  let n = 0n;
  for (let i = 31; i >= 0; i--) {
    const b = bytes[offset + i] as number;
    n = (n << 8n) | BigInt(y && i === 31 ? b & 0x7f : b);
  }
  return n;
}

/** True when the 32 bytes at `offset` encode a point of small order (the sign bit aside). */
export function hasSmallOrder(bytes: Uint8Array, offset = 0): boolean {
  const y = little(bytes, offset, true);
  return y === 0n || y === 1n || y === Y8 || y === P - Y8 || (y >= P - 1n && y <= P + 1n);
}

/**
 * True when a 64-byte signature and a 32-byte public key pass libsodium's checks, so that the
 * verdict is the Ed25519 equation's alone.
 */
export function passesLibsodiumChecks(signature: Uint8Array, publicKey: Uint8Array): boolean {
  return (
    signature.length === 64 &&
    publicKey.length === 32 &&
    little(signature, 32) < L &&
    !hasSmallOrder(signature, 0) &&
    little(publicKey, 0, true) < P &&
    !hasSmallOrder(publicKey, 0)
  );
}
