import sodium from 'libsodium-wrappers-sumo';
import { beforeAll, describe, expect, it } from 'vitest';
import { equalBytes } from '../bytes.ts';
import { type NativeCrypto, nativeCrypto, type ReferenceCrypto, selfTest } from './native.ts';
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
    signingKeyPair: (seed) => ({ secretKey: sodium.crypto_sign_seed_keypair(seed).privateKey }),
  };
  withNative = await initCrypto();
  libsodiumOnly = await initCrypto({ native: false });
});

const bytes = (length: number, salt: number) => Uint8Array.from({ length }, (_, i) => (i * 131 + salt) & 0xff);

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
