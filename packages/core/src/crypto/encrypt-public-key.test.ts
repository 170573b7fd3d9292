/**
 * checkEncryptPublicKey (protocol.md §5.1): every encoding of a small-order point and every
 * non-canonical encoding is 'invalid-key'; real and random canonical keys pass. The list of
 * small-order encodings is checked against an independent derivation: multiplying points of the
 * curve and of its twist by the prime parts of their group orders (a test-only BigInt X25519
 * from RFC 7748, test-support/x25519-reference.ts) lands exactly on the listed u's.
 */

import { describe, expect, it } from 'vitest';
import { codeOf } from '../../test-support/reference.ts';
import { bigIntToLe, L, L_TWIST, ladder, leToBigInt, onCurve, P, x25519 } from '../../test-support/x25519-reference.ts';
import { checkEncryptPublicKey, ENCRYPT_PUBLIC_KEY_BYTES, SMALL_ORDER_ENCODINGS } from './encrypt-public-key.ts';
import { initCrypto } from './sodium.ts';

const crypto = await initCrypto();
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));
const withTopBit = (key: Uint8Array): Uint8Array => {
  const out = key.slice();
  out[31] = (out[31] as number) | 0x80;
  return out;
};
const check = (key: Uint8Array) => codeOf(() => checkEncryptPublicKey(key, 'ephemeralPk'));

describe('the test-only X25519 reference (RFC 7748)', () => {
  it('RFC 7748 §5.2 vectors, and libsodium’s key pairs: pk = X25519(sk, 9)', () => {
    expect(
      hex(
        x25519(
          fromHex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'),
          fromHex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'),
        ),
      ),
    ).toBe('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552');
    const nine = bigIntToLe(9n);
    for (let i = 0; i < 4; i++) {
      const keys = crypto.encryptKeyPair();
      expect(hex(x25519(keys.secretKey, nine))).toBe(hex(keys.publicKey));
    }
  });
});

describe('SMALL_ORDER_ENCODINGS', () => {
  it('are exactly the small-order u’s of the curve and its twist, with their encodings u + p < 2^255', () => {
    // The curve has 8·L points, the twist 4·L_TWIST: [L·L_TWIST]·Q is a point of order dividing 8
    // for any Q, and over enough Q every such point appears (the ladder gives ∞ as u = 0).
    const derived = new Set<bigint>();
    const seen = { curve: 0, twist: 0 };
    for (let u = 2n; u < 66n; u++) {
      derived.add(ladder(L * L_TWIST, u));
      seen[onCurve(u) ? 'curve' : 'twist']++;
    }
    expect(seen.curve).toBeGreaterThan(0);
    expect(seen.twist).toBeGreaterThan(0);
    // each of them really has small order: [8]·u is ∞
    for (const u of derived) expect(ladder(8n, u)).toBe(0n);
    const encodings = new Set<string>();
    for (const u of derived) {
      encodings.add(hex(bigIntToLe(u)));
      if (u + P < 2n ** 255n) encodings.add(hex(bigIntToLe(u + P)));
    }
    expect(derived.size).toBe(5); // 0, 1, p − 1 and two order-8 u's
    expect(new Set(SMALL_ORDER_ENCODINGS.map(hex))).toEqual(encodings);
    expect(SMALL_ORDER_ENCODINGS).toHaveLength(7);
  });

  it('X25519 of any secret with one of them is all zero (what libsodium refuses)', () => {
    for (const key of SMALL_ORDER_ENCODINGS) {
      for (const secret of [crypto.randomBytes(32), crypto.randomBytes(32)]) {
        expect(hex(x25519(secret, key))).toBe('00'.repeat(32));
        expect(hex(x25519(secret, withTopBit(key)))).toBe('00'.repeat(32));
      }
    }
  });
});

describe('checkEncryptPublicKey', () => {
  it('rejects every small-order encoding, with and without bit 255, naming the field', () => {
    for (const [i, key] of SMALL_ORDER_ENCODINGS.entries()) {
      expect(check(key), `encoding ${i}`).toBe('invalid-key');
      expect(check(withTopBit(key)), `encoding ${i} with bit 255`).toBe('invalid-key');
      expect(() => checkEncryptPublicKey(key, 'sum dictionary[3].ephemeralPk')).toThrow(
        /^sum dictionary\[3\]\.ephemeralPk: expected an X25519 public key, got a small-order point/,
      );
    }
    expect(check(new Uint8Array(32))).toBe('invalid-key'); // the all-zero key
  });

  it('rejects wrong lengths and non-keys', () => {
    for (const length of [0, 31, 33, 64])
      expect(check(new Uint8Array(length).fill(9)), `${length} bytes`).toBe('invalid-key');
    expect(check('a key' as unknown as Uint8Array)).toBe('invalid-key');
    expect(() => checkEncryptPublicKey(new Uint8Array(31), 'round key')).toThrow(
      'round key: expected a 32-byte X25519 public key, got 31 bytes',
    );
  });

  it('rejects non-canonical encodings: u ≥ p, and bit 255 set', () => {
    // every u in [p, 2^255 − 1]: 19 values, each a second encoding of u − p
    for (let u = P; u < 2n ** 255n; u++) {
      expect(check(bigIntToLe(u)), `u = p + ${u - P}`).toBe('invalid-key');
    }
    expect(() => checkEncryptPublicKey(bigIntToLe(P + 5n), 'k')).toThrow('k: expected a canonical X25519 public key');
    const keys = crypto.encryptKeyPair();
    expect(check(withTopBit(keys.publicKey))).toBe('invalid-key');
    expect(() => checkEncryptPublicKey(withTopBit(keys.publicKey), 'k')).toThrow('got one with bit 255 set');
  });

  it('accepts real crypto_box public keys, random canonical u’s and the edges just inside', () => {
    for (let i = 0; i < 50; i++) expect(check(crypto.encryptKeyPair().publicKey)).toBeUndefined();
    for (let i = 0; i < 200; i++) {
      const key = crypto.randomBytes(ENCRYPT_PUBLIC_KEY_BYTES);
      key[31] = (key[31] as number) & 0x7f;
      if (leToBigInt(key) >= P) continue; // probability 19 / 2^255
      expect(check(key), hex(key)).toBeUndefined();
    }
    // the base point, and the largest canonical u's that are not small-order
    for (const u of [9n, 2n, P - 2n, P - 3n, 2n ** 254n]) expect(check(bigIntToLe(u)), `u = ${u}`).toBeUndefined();
    // a checked key can be sealed to and opened
    const keys = crypto.encryptKeyPair();
    checkEncryptPublicKey(keys.publicKey, 'k');
    expect(hex(crypto.openSealed(crypto.seal(new Uint8Array(32).fill(3), keys.publicKey), keys))).toBe('03'.repeat(32));
  });
});
