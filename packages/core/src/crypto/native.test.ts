import * as nodeCrypto from 'node:crypto';
import sodium from 'libsodium-wrappers-sumo';
import { beforeAll, describe, expect, it } from 'vitest';
import { equalBytes } from '../bytes.ts';
import { SMALL_ORDER_X25519_HEX } from '../testing/index.ts';
import {
  type NativeCrypto,
  type NodeCryptoModule,
  nativeCrypto,
  type ReferenceCrypto,
  selfTest,
  wrap,
} from './native.ts';
import { initCrypto, KEYSTREAM_NONCE, type PetCrypto } from './sodium.ts';

let reference: ReferenceCrypto;
let withNative: PetCrypto;
let libsodiumOnly: PetCrypto;

beforeAll(async () => {
  await sodium.ready;
  reference = {
    sha256: (m) => sodium.crypto_hash_sha256(m),
    chacha20: (key, nonce, block, length) =>
      sodium.crypto_stream_chacha20_ietf_xor_ic(new Uint8Array(length), nonce, block, key),
    sign: (m, sk) => sodium.crypto_sign_detached(m, sk),
    verify: (sig, m, pk) => {
      try {
        return sodium.crypto_sign_verify_detached(sig, m, pk);
      } catch {
        return false;
      }
    },
    signingKeyPair: (seed) => ({ secretKey: sodium.crypto_sign_seed_keypair(seed).privateKey }),
    x25519: (sk, pk) => sodium.crypto_scalarmult(sk, pk),
    aeadSeal: (key, nonce, m) => {
      const { ciphertext, mac } = sodium.crypto_aead_chacha20poly1305_ietf_encrypt_detached(m, null, null, nonce, key);
      return { ciphertext, tag: mac };
    },
  };
  withNative = await initCrypto();
  libsodiumOnly = await initCrypto({ native: false });
});

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const P = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const toLe = (n: bigint): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
const fromLe = (b: Uint8Array): bigint => b.reduceRight((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
/** y encodings of the points of order 1, 2, 4 and 8, and the non-canonical p and p + 1 (sign bit clear). */
const SMALL_ORDER_Y = [
  0n,
  1n,
  fromLe(Uint8Array.from(Buffer.from('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', 'hex'))),
  fromLe(Uint8Array.from(Buffer.from('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', 'hex'))),
  P - 1n,
  P,
  P + 1n,
];
const withSign = (y: bigint, sign: number): Uint8Array => {
  const out = toLe(y);
  out[31] = (out[31] as number) | (sign << 7);
  return out;
};

/** The native functions over Node's crypto, counting the private keys it imports into OpenSSL. */
function countingImports(): { native: NativeCrypto; imports: () => number } {
  let imports = 0;
  const counting: NodeCryptoModule = {
    ...(nodeCrypto as unknown as NodeCryptoModule),
    createPrivateKey: (key) => {
      imports++;
      return nodeCrypto.createPrivateKey(key as unknown as nodeCrypto.JsonWebKeyInput);
    },
  };
  return { native: wrap(counting), imports: () => imports };
}

const bytes = (length: number, salt: number) => Uint8Array.from({ length }, (_, i) => (i * 131 + salt) & 0xff);
/** The X25519 public key of a secret key, by libsodium. */
const publicOf = (secretKey: Uint8Array) => sodium.crypto_scalarmult_base(secretKey);

describe('the platform crypto (Node.js)', () => {
  it('is found on Node.js ≥ 20.16 and passes its self-test', () => {
    expect(typeof (process as { getBuiltinModule?: unknown }).getBuiltinModule).toBe('function');
    expect(nativeCrypto(reference)).toBeDefined();
  });

  it('is refused when any of its functions differs from libsodium', () => {
    const native = nativeCrypto(reference) as NativeCrypto;
    expect(selfTest(native, reference)).toBe(true);
    const flip = (out: Uint8Array) => {
      const copy = out.slice();
      copy[copy.length - 1] = (copy[copy.length - 1] as number) ^ 1;
      return copy;
    };
    expect(selfTest({ ...native, sha256: (m) => flip(native.sha256(m)) }, reference)).toBe(false);
    // A keystream that ignores the block counter (always from block 0) differs mid-stream only.
    expect(selfTest({ ...native, chacha20: (k, n, _b, l) => native.chacha20(k, n, 0, l) }, reference)).toBe(false);
    expect(selfTest({ ...native, sign: (m, sk) => flip(native.sign(m, sk)) }, reference)).toBe(false);
    expect(selfTest({ ...native, verify: () => true }, reference)).toBe(false);
    const aead = native.aead as NonNullable<NativeCrypto['aead']>;
    expect(aead).toBeDefined();
    const sealFlipped: NonNullable<NativeCrypto['aead']>['seal'] = (k, n, m) => flip(aead.seal(k, n, m));
    expect(selfTest({ ...native, aead: { ...aead, seal: sealFlipped } }, reference)).toBe(false);
    // An opener that hands out the plaintext whatever the tag says.
    // RFC 8439's body starts at block 1: this is the right plaintext, whatever the tag says.
    const openAnyway: NonNullable<NativeCrypto['aead']>['open'] = (k, n, c, _tag, out) => {
      out.set(nodeCrypto.createCipheriv('chacha20', k, Buffer.concat([Buffer.from([1, 0, 0, 0]), n])).update(c));
      return true;
    };
    expect(selfTest({ ...native, aead: { ...aead, open: openAnyway } }, reference)).toBe(false);
    // OpenSSL's equation alone, without libsodium's checks: it accepts a small-order key.
    const node = (
      process as unknown as { getBuiltinModule(id: string): typeof import('node:crypto') }
    ).getBuiltinModule('node:crypto');
    const equationOnly = (sig: Uint8Array, m: Uint8Array, pk: Uint8Array) => {
      try {
        const key = node.createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pk]), format: 'der', type: 'spki' });
        return node.verify(null, m, key, sig);
      } catch {
        return false;
      }
    };
    expect(selfTest({ ...native, verify: equationOnly }, reference)).toBe(false);
    expect(
      selfTest(
        {
          ...native,
          sign: () => {
            throw new Error('unsupported');
          },
        },
        reference,
      ),
    ).toBe(false);
  });
});

describe('initCrypto with and without the platform crypto', () => {
  it('hashes the same, at every size', () => {
    for (const length of [0, 1, 55, 56, 64, 1000, 65_537, 3_000_001]) {
      const m = bytes(length, length);
      expect(withNative.hash(m)).toEqual(libsodiumOnly.hash(m));
    }
  });

  it('draws the same mask keystream, in chunks of any size and past a partial last block', () => {
    const seed = bytes(32, 9);
    for (const chunks of [
      [64, 128, 5],
      [256 * 1024, 256 * 1024, 1000],
      [0, 64, 0, 70],
    ]) {
      const a = withNative.keystream(seed);
      const b = libsodiumOnly.keystream(seed);
      for (const n of chunks) expect(equalBytes(a.next(n), b.next(n))).toBe(true);
      expect(a.position).toBe(b.position);
    }
    // A keystream equals libsodium's randombytes_buf_deterministic (protocol.md §5.2).
    expect(withNative.keystream(seed).next(1000)).toEqual(sodium.randombytes_buf_deterministic(1000, seed));
    expect(KEYSTREAM_NONCE.length).toBe(12);
  });

  it('signs the same, and each verifies the other', () => {
    const { secretKey, publicKey } = libsodiumOnly.signingKeyPair(bytes(32, 3));
    for (const length of [0, 1, 100, 1_000_000]) {
      const m = bytes(length, 7);
      const signature = withNative.sign(m, secretKey);
      expect(signature).toEqual(libsodiumOnly.sign(m, secretKey));
      expect(libsodiumOnly.verify(signature, m, publicKey)).toBe(true);
      expect(withNative.verify(signature, m, publicKey)).toBe(true);
    }
  });

  it('imports an identity key into OpenSSL once per key array, and again once its bytes change', () => {
    const { native, imports } = countingImports();
    const secretKey = libsodiumOnly.signingKeyPair(bytes(32, 11)).secretKey;
    const other = libsodiumOnly.signingKeyPair(bytes(32, 12)).secretKey;
    const m = bytes(200_000, 4);
    for (let i = 0; i < 3; i++) expect(native.sign(m, secretKey)).toEqual(libsodiumOnly.sign(m, secretKey));
    expect(imports()).toBe(1);
    // A copy of the same bytes is another array: imported for itself.
    expect(native.sign(m, secretKey.slice())).toEqual(libsodiumOnly.sign(m, secretKey));
    expect(imports()).toBe(2);
    // The same array, now holding another key: never signed with the old one.
    const kept = secretKey.slice();
    secretKey.set(other);
    expect(native.sign(m, secretKey)).toEqual(libsodiumOnly.sign(m, other));
    expect(imports()).toBe(3);
    secretKey.set(kept);
    expect(native.sign(m, secretKey)).toEqual(libsodiumOnly.sign(m, kept));
    expect(imports()).toBe(4);
  });

  it('seals message envelopes either can open, at every size; a changed byte anywhere is decrypt-failed in both', () => {
    const identity = libsodiumOnly.signingKeyPair(bytes(32, 7));
    const round = libsodiumOnly.encryptKeyPair(bytes(32, 8));
    expect(withNative).not.toBe(libsodiumOnly);
    for (const size of [64, 65, 200, 1023, 1024, 8191, 8192, 70_000, 65_536 * 3 + 17]) {
      const body = bytes(size - 64, size);
      for (const [sealer, opener] of [
        [withNative, libsodiumOnly],
        [libsodiumOnly, withNative],
        [withNative, withNative],
      ] as const) {
        const sealed = sealer.signAndSeal(size, (m) => m.set(body, 64), identity.secretKey, round.publicKey);
        expect(sealed.length).toBe(size + 48);
        const opened = opener.openSignedSealed(sealed.slice(), round, () => identity.publicKey);
        expect(opened.signatureValid).toBe(true);
        expect(equalBytes(opened.message.subarray(64), body)).toBe(true);
        const inPlace = sealed.slice();
        const openedInPlace = opener.openSignedSealed(inPlace, round, () => identity.publicKey, 'message', true);
        expect(openedInPlace.message.buffer).toBe(inPlace.buffer);
        expect(equalBytes(openedInPlace.message, opened.message)).toBe(true);
      }
      const sealed = withNative.signAndSeal(size, (m) => m.set(body, 64), identity.secretKey, round.publicKey);
      for (const at of [0, 31, 32, 47, 48, 48 + 64, sealed.length - 1].filter((i) => i < sealed.length)) {
        const changed = sealed.slice();
        changed[at] = (changed[at] as number) ^ 0x20;
        for (const opener of [withNative, libsodiumOnly]) {
          const before = changed.slice();
          expect(() => opener.openSignedSealed(changed, round, () => identity.publicKey, 'message', true)).toThrow(
            expect.objectContaining({ code: 'decrypt-failed' }),
          );
          expect(changed).toEqual(before); // a message that does not open is left as it was
        }
      }
      for (const opener of [withNative, libsodiumOnly]) {
        expect(() => opener.openSignedSealed(sealed, libsodiumOnly.encryptKeyPair(), () => identity.publicKey)).toThrow(
          expect.objectContaining({ code: 'decrypt-failed' }),
        );
      }
    }
  });

  it("the platform's AEAD refuses a cipher that returns fewer bytes than given, and zeroes what it opened", () => {
    const node = (
      process as unknown as { getBuiltinModule(id: string): typeof import('node:crypto') }
    ).getBuiltinModule('node:crypto');
    // A cipher that holds one byte back from each call (as a buffering implementation would).
    const shortOf = <T extends { update(data: Uint8Array): Uint8Array }>(cipher: T): T =>
      Object.assign(Object.create(cipher) as T, { update: (data: Uint8Array) => cipher.update(data).subarray(1) });
    const module = {
      ...node,
      createCipheriv: (...args: Parameters<typeof node.createCipheriv>) => shortOf(node.createCipheriv(...args)),
      createDecipheriv: (...args: Parameters<typeof node.createDecipheriv>) => shortOf(node.createDecipheriv(...args)),
    } as unknown as NodeCryptoModule;
    const aead = wrap(module).aead as NonNullable<NativeCrypto['aead']>;
    const key = bytes(32, 1);
    const nonce = bytes(12, 2);
    expect(() => aead.seal(key, nonce, bytes(100, 3))).toThrow(/returned 99 bytes for 100/);
    const { ciphertext, tag } = reference.aeadSeal(key, nonce, bytes(100, 3));
    const out = new Uint8Array(100).fill(7);
    expect(aead.open(key, nonce, ciphertext, tag, out)).toBe(false);
    expect(out).toEqual(new Uint8Array(100));
  });

  it("an attacker's envelope under a small-order ephemeral key (either top bit) is decrypt-failed in both, left as it was", () => {
    const identity = libsodiumOnly.signingKeyPair(bytes(32, 11));
    const round = libsodiumOnly.encryptKeyPair(bytes(32, 12));
    const sealed = withNative.signAndSeal(200, (m) => m.set(bytes(136, 5), 64), identity.secretKey, round.publicKey);
    for (const hex of SMALL_ORDER_X25519_HEX) {
      const small = Uint8Array.from(Buffer.from(hex, 'hex'));
      for (const epk of [small, Uint8Array.from(small, (b, i) => (i === 31 ? b | 0x80 : b))]) {
        const forged = sealed.slice();
        forged.set(epk, 0);
        for (const opener of [withNative, libsodiumOnly]) {
          const before = forged.slice();
          expect(() => opener.openSignedSealed(forged, round, () => identity.publicKey, 'message', true)).toThrow(
            expect.objectContaining({ code: 'decrypt-failed' }),
          );
          expect(forged).toEqual(before);
        }
      }
    }
  });

  it('an envelope is not a sealed box: crypto_box_seal_open refuses it, and a sealed box is no envelope', () => {
    const identity = libsodiumOnly.signingKeyPair(bytes(32, 9));
    const round = libsodiumOnly.encryptKeyPair(bytes(32, 10));
    const sealed = withNative.signAndSeal(300, (m) => m.set(bytes(236, 3), 64), identity.secretKey, round.publicKey);
    for (const crypto of [withNative, libsodiumOnly]) {
      expect(() => crypto.openSealed(sealed, round)).toThrow(expect.objectContaining({ code: 'decrypt-failed' }));
      const box = crypto.seal(bytes(300, 4), round.publicKey);
      expect(() => crypto.openSignedSealed(box, round, () => identity.publicKey)).toThrow(
        expect.objectContaining({ code: 'decrypt-failed' }),
      );
    }
  });

  it('signs and seals to the same opened message', () => {
    const identity = libsodiumOnly.signingKeyPair(bytes(32, 5));
    const round = libsodiumOnly.encryptKeyPair(bytes(32, 6));
    const body = bytes(200_000, 1);
    for (const [sealer, opener] of [
      [withNative, libsodiumOnly],
      [libsodiumOnly, withNative],
    ] as const) {
      const sealed = sealer.signAndSeal(64 + body.length, (m) => m.set(body, 64), identity.secretKey, round.publicKey);
      const opened = opener.openSignedSealed(sealed, round, () => identity.publicKey);
      expect(opened.signatureValid).toBe(true);
      expect(equalBytes(opened.message.subarray(64), body)).toBe(true);
      expect(opened.message.subarray(0, 64)).toEqual(libsodiumOnly.sign(body, identity.secretKey));
    }
  });
});

describe("native verification gives libsodium's verdict", () => {
  /** Asserts that native and libsodium agree on (sig, m, pk), and that the verdict is `expected`. */
  function agree(native: NativeCrypto, sig: Uint8Array, m: Uint8Array, pk: Uint8Array, expected: boolean): void {
    expect(reference.verify(sig, m, pk)).toBe(expected);
    expect(native.verify(sig, m, pk)).toBe(expected);
  }

  it('on valid signatures, changed messages and changed signatures', () => {
    const native = nativeCrypto(reference) as NativeCrypto;
    const { secretKey, publicKey } = libsodiumOnly.signingKeyPair(bytes(32, 21));
    for (const length of [0, 100, 200_000]) {
      const m = bytes(length, 4);
      const sig = libsodiumOnly.sign(m, secretKey);
      agree(native, sig, m, publicKey, true);
      if (length > 0)
        agree(
          native,
          sig,
          Uint8Array.from(m, (b, i) => (i === 0 ? b ^ 1 : b)),
          publicKey,
          false,
        );
      for (const at of [0, 31, 32, 63])
        agree(
          native,
          Uint8Array.from(sig, (b, i) => (i === at ? b ^ 1 : b)),
          m,
          publicKey,
          false,
        );
      // another key's valid signature
      agree(native, libsodiumOnly.sign(m, libsodiumOnly.signingKeyPair(bytes(32, 22)).secretKey), m, publicKey, false);
    }
  });

  it('refuses a non-canonical S (S + L), which satisfies the equation', () => {
    const native = nativeCrypto(reference) as NativeCrypto;
    const { secretKey, publicKey } = libsodiumOnly.signingKeyPair(bytes(32, 23));
    const m = bytes(1000, 5);
    const sig = libsodiumOnly.sign(m, secretKey);
    const s = fromLe(sig.subarray(32));
    const malleated = Uint8Array.from([...sig.subarray(0, 32), ...toLe(s + L)]);
    agree(native, malleated, m, publicKey, false);
  });

  it('refuses small-order keys and R, even where the equation holds', () => {
    const native = nativeCrypto(reference) as NativeCrypto;
    const node = (
      process as unknown as { getBuiltinModule(id: string): typeof import('node:crypto') }
    ).getBuiltinModule('node:crypto');
    const m = bytes(300, 6);
    const { secretKey, publicKey } = libsodiumOnly.signingKeyPair(bytes(32, 24));
    const sig = libsodiumOnly.sign(m, secretKey);
    for (const y of SMALL_ORDER_Y) {
      for (const sign of [0, 1]) {
        const point = withSign(y, sign);
        agree(native, sig, m, point, false); // as the key
        agree(native, Uint8Array.from([...point, ...sig.subarray(32)]), m, publicKey, false); // as R
      }
    }
    // The neutral element as key and R with S = 0: [0]B = R + [h]A holds for any message, and
    // OpenSSL's equation alone accepts it.
    const neutral = withSign(1n, 0);
    const forged = Uint8Array.from([...neutral, ...new Uint8Array(32)]);
    const key = node.createPublicKey({ key: Buffer.concat([SPKI_PREFIX, neutral]), format: 'der', type: 'spki' });
    expect(node.verify(null, m, key, forged)).toBe(true);
    agree(native, forged, m, neutral, false);
  });

  it('refuses non-canonical keys (y ≥ p) and keys that are not points', () => {
    const native = nativeCrypto(reference) as NativeCrypto;
    const m = bytes(64, 7);
    const sig = libsodiumOnly.sign(m, libsodiumOnly.signingKeyPair(bytes(32, 25)).secretKey);
    for (let k = 0n; k < 19n; k++) for (const sign of [0, 1]) agree(native, sig, m, withSign(P + k, sign), false);
    for (let i = 0; i < 40; i++) agree(native, sig, m, bytes(32, 100 + i * 7), false);
  });

  it('through initCrypto: large messages verify natively, with the same verdicts', () => {
    const { secretKey, publicKey } = libsodiumOnly.signingKeyPair(bytes(32, 26));
    const m = bytes(300_000, 8);
    const sig = libsodiumOnly.sign(m, secretKey);
    for (const crypto of [withNative, libsodiumOnly]) {
      expect(crypto.verify(sig, m, publicKey)).toBe(true);
      expect(crypto.verify(sig, m.subarray(1), publicKey)).toBe(false);
      expect(
        crypto.verify(Uint8Array.from([...sig.subarray(0, 32), ...toLe(fromLe(sig.subarray(32)) + L)]), m, publicKey),
      ).toBe(false);
    }
    // openSignedSealed on a large message whose signature is not the signer's
    const round = libsodiumOnly.encryptKeyPair(bytes(32, 27));
    const sealed = libsodiumOnly.signAndSeal(64 + m.length, (out) => out.set(m, 64), secretKey, round.publicKey);
    const stranger = libsodiumOnly.signingKeyPair(bytes(32, 28)).publicKey;
    for (const crypto of [withNative, libsodiumOnly]) {
      expect(crypto.openSignedSealed(sealed, round, () => publicKey).signatureValid).toBe(true);
      expect(crypto.openSignedSealed(sealed, round, () => stranger).signatureValid).toBe(false);
    }
  });
});

describe("native X25519 gives libsodium's shared secret and verdict", () => {
  /** The u-coordinates libsodium refuses (small order, and p − 1, p, p + 1). */
  const SMALL_ORDER_U = SMALL_ORDER_X25519_HEX.map((hex) => Uint8Array.from(Buffer.from(hex, 'hex')));
  const withTopBit = (key: Uint8Array) => Uint8Array.from(key, (b, i) => (i === 31 ? b | 0x80 : b));

  /** libsodium's answer: the secret, or undefined where it refuses the key. */
  const libsodiumSecret = (sk: Uint8Array, pk: Uint8Array): Uint8Array | undefined => {
    try {
      return sodium.crypto_scalarmult(sk, pk);
    } catch {
      return undefined;
    }
  };

  it('on random keys, non-canonical ones (u ≥ p, the top bit set) and every small-order key', () => {
    const native = nativeCrypto(reference) as NativeCrypto;
    expect(native.x25519).toBeDefined();
    const x25519 = native.x25519 as NonNullable<NativeCrypto['x25519']>;
    const keys = [
      ...Array.from({ length: 100 }, (_, i) => bytes(32, 3 * i + 1)),
      ...Array.from({ length: 20 }, (_, i) => withTopBit(bytes(32, 7 * i + 2))),
      toLe(P + 5n),
      toLe(2n ** 255n - 1n),
      ...SMALL_ORDER_U,
      ...SMALL_ORDER_U.map(withTopBit),
    ];
    let refused = 0;
    for (const [i, pk] of keys.entries()) {
      const sk = bytes(32, 500 + i);
      const expected = libsodiumSecret(sk, pk);
      if (expected === undefined) refused++;
      expect(x25519(sk, publicOf(sk), pk)).toEqual(expected);
    }
    expect(refused).toBe(2 * SMALL_ORDER_U.length);
  });

  it('is refused by the self-test when it differs from libsodium or accepts a small-order key', () => {
    const native = nativeCrypto(reference) as NativeCrypto;
    const x25519 = native.x25519 as NonNullable<NativeCrypto['x25519']>;
    expect(selfTest(native, reference)).toBe(true);
    expect(
      selfTest(
        { ...native, x25519: (sk, own, pk) => x25519(sk, own, pk)?.map((b, i) => (i === 0 ? b ^ 1 : b)) },
        reference,
      ),
    ).toBe(false);
    expect(selfTest({ ...native, x25519: (sk, own, pk) => x25519(sk, own, pk) ?? new Uint8Array(32) }, reference)).toBe(
      false,
    );
    const { x25519: _omitted, ...without } = native;
    expect(selfTest(without, reference)).toBe(true); // no X25519 here: libsodium keeps it
  });

  it('imports a secret key into OpenSSL once per key array, and again once its bytes change', () => {
    const { native, imports } = countingImports();
    const x25519 = native.x25519 as NonNullable<NativeCrypto['x25519']>;
    const sk = bytes(32, 40);
    const pk = libsodiumOnly.encryptKeyPair(bytes(32, 41)).publicKey;
    for (let i = 0; i < 3; i++) expect(x25519(sk, publicOf(sk), pk)).toEqual(sodium.crypto_scalarmult(sk, pk));
    expect(imports()).toBe(1);
    const kept = sk.slice();
    sk.set(bytes(32, 42));
    expect(x25519(sk, publicOf(sk), pk)).toEqual(sodium.crypto_scalarmult(sk, pk));
    expect(imports()).toBe(2);
    expect(x25519(kept, publicOf(kept), pk)).toEqual(sodium.crypto_scalarmult(kept, pk));
  });

  it('through initCrypto: sealed boxes open the same both ways; forged, cut and small-order boxes are decrypt-failed', () => {
    const pair = libsodiumOnly.encryptKeyPair(bytes(32, 60));
    for (const length of [0, 32, 1000]) {
      const message = bytes(length, 61);
      for (const [sealer, opener] of [
        [withNative, libsodiumOnly],
        [libsodiumOnly, withNative],
        [withNative, withNative],
      ] as const) {
        expect(opener.openSealed(sealer.seal(message, pair.publicKey), pair)).toEqual(message);
      }
      // ADR 0016: boxes sealed to many keys under one ephemeral key are libsodium's sealed boxes
      const other = libsodiumOnly.encryptKeyPair(bytes(32, 64));
      for (const sealer of [withNative, libsodiumOnly]) {
        const boxes = sealer.sealToEach(message, [pair.publicKey, other.publicKey]);
        expect(sodium.crypto_box_seal_open(boxes[0] as Uint8Array, pair.publicKey, pair.secretKey)).toEqual(message);
        expect(sodium.crypto_box_seal_open(boxes[1] as Uint8Array, other.publicKey, other.secretKey)).toEqual(message);
        for (const opener of [withNative, libsodiumOnly]) {
          expect(opener.openSealed(boxes[1] as Uint8Array, other)).toEqual(message);
        }
      }
    }
    const sealed = libsodiumOnly.seal(bytes(32, 62), pair.publicKey);
    const tampered = sealed.slice();
    tampered[40] = (tampered[40] as number) ^ 1;
    const otherKey = libsodiumOnly.encryptKeyPair(bytes(32, 63));
    const cases = [
      tampered,
      sealed.subarray(0, sealed.length - 1),
      ...SMALL_ORDER_U.map((u) => Uint8Array.from([...u, ...sealed.subarray(32)])),
    ];
    for (const box of cases) {
      for (const crypto of [withNative, libsodiumOnly]) {
        expect(() => crypto.openSealed(box, pair)).toThrow(expect.objectContaining({ code: 'decrypt-failed' }));
      }
    }
    for (const crypto of [withNative, libsodiumOnly]) {
      expect(() => crypto.openSealed(sealed, otherKey)).toThrow(expect.objectContaining({ code: 'decrypt-failed' }));
    }
  });
});
