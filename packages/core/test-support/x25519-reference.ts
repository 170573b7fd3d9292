/**
 * Test-only X25519 (RFC 7748 §5), written from the RFC in BigInt arithmetic and never from the
 * code under test: the Montgomery ladder over GF(2^255 − 19), used to derive the small-order
 * points of Curve25519 and its twist independently of libsodium's blocklist. Slow and not
 * constant-time; excluded from the published package with the rest of test-support/.
 */

/** p = 2^255 − 19. */
export const P = 2n ** 255n - 19n;
/** The prime order of Curve25519's main subgroup: the curve has 8·L points (RFC 7748 §4.1). */
export const L = 2n ** 252n + 27742317777372353535851937790883648493n;
/** The prime order of the twist's main subgroup: the twist has 4·L_TWIST points. */
export const L_TWIST = 2n ** 253n - 55484635554744707071703875581767296995n;

const A24 = 121665n;

const mod = (a: bigint): bigint => ((a % P) + P) % P;

function pow(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}

/** Little-endian bytes → integer. */
export function leToBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i] as number);
  return n;
}

/** Integer → 32 little-endian bytes. */
export function bigIntToLe(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  let v = n;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/**
 * The u-coordinate of [k]·(u, ·) by the Montgomery ladder of RFC 7748 §5, for any k ≥ 0 (not
 * clamped) and u taken modulo p. The point at infinity comes out as 0, as in X25519.
 */
export function ladder(k: bigint, u: bigint): bigint {
  const x1 = mod(u);
  let x2 = 1n;
  let z2 = 0n;
  let x3 = x1;
  let z3 = 1n;
  let swap = 0n;
  for (let t = BigInt(k.toString(2).length) - 1n; t >= 0n; t--) {
    const kt = (k >> t) & 1n;
    swap ^= kt;
    if (swap) [x2, x3, z2, z3] = [x3, x2, z3, z2];
    swap = kt;
    const a = x2 + z2;
    const aa = (a * a) % P;
    const b = x2 - z2;
    const bb = (b * b) % P;
    const e = aa - bb;
    const c = x3 + z3;
    const d = x3 - z3;
    const da = (d * a) % P;
    const cb = (c * b) % P;
    x3 = mod((da + cb) ** 2n);
    z3 = mod(x1 * mod((da - cb) ** 2n));
    x2 = mod(aa * bb);
    z2 = mod(e * (aa + A24 * e));
  }
  if (swap) [x2, z2] = [x3, z3];
  return mod(x2 * pow(z2, P - 2n));
}

/** X25519(k, u) of RFC 7748 §5: clamped scalar, bit 255 of u masked. */
export function x25519(scalar: Uint8Array, u: Uint8Array): Uint8Array {
  const k = scalar.slice();
  k[0] = (k[0] as number) & 248;
  k[31] = ((k[31] as number) & 127) | 64;
  const masked = u.slice();
  masked[31] = (masked[31] as number) & 0x7f;
  return bigIntToLe(ladder(leToBigInt(k), leToBigInt(masked)));
}

/** Whether u is the x-coordinate of a point on Curve25519 itself (else on its twist). */
export function onCurve(u: bigint): boolean {
  const rhs = mod(u * u * u + 486662n * u * u + u);
  return rhs === 0n || pow(rhs, (P - 1n) / 2n) === 1n;
}
