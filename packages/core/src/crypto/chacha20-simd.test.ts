/**
 * The four-block SIMD ChaCha20 of the mask keystream (chacha20-simd.ts): the committed binary is
 * what scripts/chacha20-simd.mjs assembles; its keystream is RFC 8439's (the RFC's own vector, and
 * the ChaCha20 written from the RFC in test-support) and libsodium's at every length around its
 * 256-byte groups and its 1 MiB calls, at offsets into a larger array, from block counters up to
 * 2³¹; it leaves the rest of the array alone and nothing in its memory; a module that computes
 * anything else is refused by the self-check, and PetCrypto's keystream goes through it.
 */

import sodium from 'libsodium-wrappers-sumo';
import { beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module of the repository's scripts (no types)
import { chacha20SimdBinary } from '../../../../scripts/chacha20-simd.mjs';
import { chacha20Stream } from '../../test-support/reference.ts';
import { agreesWith, type ReferenceStream, type StreamInto, simdChaCha20, simdModule } from './chacha20-simd.ts';
import { CHACHA20_SIMD_MAX_GROUPS, CHACHA20_SIMD_WASM } from './chacha20-simd-module.ts';
import { initCrypto, KEYSTREAM_NONCE } from './sodium.ts';

const libsodium: ReferenceStream = (key, nonce, block, length) =>
  sodium.crypto_stream_chacha20_ietf_xor_ic(new Uint8Array(length), nonce, block, key);

let into: StreamInto;
beforeAll(async () => {
  await sodium.ready;
  const simd = simdChaCha20(libsodium);
  if (simd === undefined) throw new Error('Node.js compiles WebAssembly SIMD: the module must load here');
  into = simd;
});

const keyOf = (n: number) => Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + n) & 0xff);
const nonceOf = (n: number) => Uint8Array.from({ length: 12 }, (_, i) => (i * 13 + n) & 0xff);

describe('SIMD ChaCha20', () => {
  it('is the binary that scripts/chacha20-simd.mjs assembles', async () => {
    const binary = (await chacha20SimdBinary()) as Uint8Array;
    expect(Buffer.from(binary).toString('base64url')).toBe(CHACHA20_SIMD_WASM);
  });

  it("computes RFC 8439 §2.4.2's keystream (key 00..1f, nonce 000000000000004a00000000, block 1)", () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    const nonce = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0x4a, 0, 0, 0, 0]);
    const out = new Uint8Array(114);
    into(key, nonce, 1, out, 0, 114);
    expect(Buffer.from(out)).toEqual(Buffer.from(chacha20Stream(key, nonce, 1, 114)));
  });

  it("is libsodium's keystream at every length around its groups, from several blocks, at an offset", () => {
    const lengths = [0, 1, 63, 64, 65, 127, 128, 255, 256, 257, 511, 512, 513, 767, 1023, 1024, 1025, 4095, 65_537];
    for (const [i, block] of [0, 1, 3, 4, 255, 1_000_003, 2 ** 31 - 2000].entries()) {
      for (const length of lengths) {
        const out = new Uint8Array(length + 40).fill(0x5c);
        into(keyOf(i), nonceOf(i), block, out, 17, length);
        expect(Buffer.from(out.subarray(17, 17 + length))).toEqual(
          Buffer.from(libsodium(keyOf(i), nonceOf(i), block, length)),
        );
        expect(out.subarray(0, 17).every((b) => b === 0x5c)).toBe(true);
        expect(out.subarray(17 + length).every((b) => b === 0x5c)).toBe(true);
      }
    }
  });

  it('is the same across its 1 MiB calls (several calls for one request)', () => {
    const groupBytes = CHACHA20_SIMD_MAX_GROUPS * 256;
    for (const length of [groupBytes - 1, groupBytes, groupBytes + 1, 2 * groupBytes + 300, 8_000_000]) {
      const out = new Uint8Array(length);
      into(keyOf(9), KEYSTREAM_NONCE, 77, out, 0, length);
      expect(Buffer.from(out).equals(Buffer.from(libsodium(keyOf(9), KEYSTREAM_NONCE, 77, length)))).toBe(true);
    }
  });

  it('leaves neither the key nor the keystream in its memory, also when the call is refused', () => {
    const module = simdModule();
    if (module === undefined) throw new Error('the module must load here');
    const out = new Uint8Array(5000);
    module.into(keyOf(3), nonceOf(3), 5, out, 0, 5000);
    expect(out.some((b) => b !== 0)).toBe(true);
    expect(module.memory.every((b) => b === 0)).toBe(true);
    expect(() => module.into(keyOf(3), nonceOf(3), 5, out, 4000, 5000)).toThrow(/does not fit/);
    expect(() => module.into(keyOf(3).subarray(1), nonceOf(3), 5, out, 0, 10)).toThrow(/32-byte key/);
    expect(() => module.into(keyOf(3), nonceOf(3), 2 ** 32 - 1, out, 0, 128)).toThrow(/2³²/);
    expect(module.memory.every((b) => b === 0)).toBe(true);
  });

  it('is refused by the self-check when it differs from the reference in one byte, or writes outside', () => {
    expect(agreesWith(into, libsodium)).toBe(true);
    const flipped: ReferenceStream = (key, nonce, block, length) => {
      const bytes = libsodium(key, nonce, block, length);
      if (length > 700) bytes[700] = (bytes[700] as number) ^ 1;
      return bytes;
    };
    expect(agreesWith(into, flipped)).toBe(false);
    const spills: StreamInto = (key, nonce, block, out, offset, length) => {
      into(key, nonce, block, out, offset, length);
      if (offset + length < out.length) out[offset + length] = 0;
    };
    expect(agreesWith(spills, libsodium)).toBe(false);
    expect(simdChaCha20(flipped)).toBeUndefined();
  });

  it("carries PetCrypto's mask keystream, which stays libsodium's randombytes_buf_deterministic, as without it", async () => {
    const seed = keyOf(42);
    const expected = Buffer.from(sodium.randombytes_buf_deterministic(300_000, seed));
    // simd: false is libsodium's path in its own memory, what React Native runs.
    for (const options of [{ native: false }, { native: false, simd: false }, { simd: false }, {}]) {
      const crypto = await initCrypto(options);
      const stream = crypto.keystream(seed);
      // Each call takes whole 64-byte blocks: 1,563 of them, then the rest.
      const out = new Uint8Array(300_000);
      stream.nextInto?.(out, 0, 100_032);
      stream.nextInto?.(out, 100_032, 199_968);
      expect(Buffer.from(out).equals(expected)).toBe(true);
      expect(Buffer.from(crypto.keystream(seed).next(1000)).equals(expected.subarray(0, 1000))).toBe(true);
    }
    expect(await initCrypto({ simd: false })).not.toBe(await initCrypto({}));
  });
});
