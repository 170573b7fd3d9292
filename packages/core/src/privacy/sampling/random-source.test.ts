import { beforeAll, describe, expect, it } from 'vitest';
import type { PetCrypto } from '../../crypto/sodium.ts';
import { initCrypto } from '../../crypto/sodium.ts';
import { PetError } from '../../errors.ts';
import { fixtureSeed } from '../../testing/index.ts';
import {
  cryptoRandomSource,
  type RandomSource,
  randomSource,
  seededRandomSource,
  uniformInt,
} from './random-source.ts';
import { chiSquareTest, replaySource } from './testing/goodness-of-fit.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

/** A PetCrypto whose randomBytes and keystream calls are counted (a test adapter, not a patch). */
function countingCrypto(base: PetCrypto): { crypto: PetCrypto; calls: { randomBytes: number; keystream: number } } {
  const calls = { randomBytes: 0, keystream: 0 };
  return {
    calls,
    crypto: {
      ...base,
      randomBytes(length) {
        calls.randomBytes++;
        return base.randomBytes(length);
      },
      keystream(seed) {
        calls.keystream++;
        return base.keystream(seed);
      },
    },
  };
}

const draw = (source: RandomSource, n: number): number[] => Array.from({ length: n }, () => source.nextUint32());

describe('seededRandomSource', () => {
  it('reads the seed’s ChaCha20 keystream (protocol.md §5.2) as little-endian words, in order', () => {
    const seed = fixtureSeed(1);
    const stream = crypto.keystream(seed).next(64 * 1024 + 64);
    const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
    const source = seededRandomSource(crypto, seed);
    // across the first refill boundary (64 KiB)
    let mismatches = 0;
    for (let i = 0; i < 16 * 1024 + 16; i++) if (source.nextUint32() !== view.getUint32(4 * i, true)) mismatches++;
    expect(mismatches).toBe(0);
  });

  it('is deterministic: the same seed gives the same words, another seed others', () => {
    expect(draw(seededRandomSource(crypto, fixtureSeed(2)), 100)).toEqual(
      draw(seededRandomSource(crypto, fixtureSeed(2)), 100),
    );
    expect(draw(seededRandomSource(crypto, fixtureSeed(3)), 100)).not.toEqual(
      draw(seededRandomSource(crypto, fixtureSeed(2)), 100),
    );
  });

  it('throws after dispose()', () => {
    const source = seededRandomSource(crypto, fixtureSeed(4));
    source.nextUint32();
    source.dispose();
    expect(() => source.nextUint32()).toThrow(PetError);
  });
});

describe('cryptoRandomSource', () => {
  it('reads ChaCha20 under a fresh key from randombytes every keyBytes, and wipes the keys', () => {
    const keys: Uint8Array[] = [];
    const copies: Uint8Array[] = [];
    const adapter: PetCrypto = {
      ...crypto,
      randomBytes(length) {
        const bytes = crypto.randomBytes(length);
        keys.push(bytes);
        copies.push(bytes.slice());
        return bytes;
      },
    };
    const source = cryptoRandomSource(adapter, 64, 128);
    const words = draw(source, 40); // 16 words per 64-byte chunk, 32 per 128-byte key: two keys
    expect(keys).toHaveLength(2);
    expect(keys.every((k) => k.length === 32 && k.every((b) => b === 0))).toBe(true);
    const expected = copies.flatMap((key) => {
      const block = crypto.keystream(key).next(128);
      return Array.from(new Uint32Array(block.slice().buffer));
    });
    expect(words).toEqual(expected.slice(0, 40));
    source.dispose();
    expect(() => source.nextUint32()).toThrow(PetError);
  });

  it('rejects a chunk size that is not a positive multiple of 64, or above the key’s share', () => {
    expect(() => cryptoRandomSource(crypto, 96)).toThrow(/multiple of 64/);
    expect(() => cryptoRandomSource(crypto, 128, 64)).toThrow(/multiple of 64/);
  });
});

describe('randomSource', () => {
  it('uses the crypto source by default and the keystream only when given a seed', () => {
    const counting = countingCrypto(crypto);
    const a = randomSource(counting.crypto);
    const b = randomSource(counting.crypto);
    expect(draw(a, 4)).not.toEqual(draw(b, 4));
    // one fresh key (and keystream) per MiB
    expect(counting.calls).toEqual({ randomBytes: 2, keystream: 2 });
    draw(randomSource(counting.crypto, fixtureSeed(5)), 4);
    expect(counting.calls).toEqual({ randomBytes: 2, keystream: 3 });
  });
});

describe('uniformInt', () => {
  it('masks to the bit length of n − 1 and rejects values ≥ n (replayed words)', () => {
    // n = 5: 3 bits; 7 and 5 are rejected, 0b1_0100 masks to 4.
    const source = replaySource([7, 5, 0b10100]);
    expect(uniformInt(source, 5)).toBe(4);
    expect(source.used).toBe(3);
    // n = 2^32 + 1: high word masked to 1 bit, then the low word; (1, 1) = 2^32 + 1 is rejected.
    const wide = replaySource([3, 1, 0xfffffffe, 0x12345678]);
    expect(uniformInt(wide, 2 ** 32 + 1)).toBe(0x12345678);
    expect(uniformInt(replaySource([]), 1)).toBe(0);
  });

  it('is uniform with no modulo bias (chi-square at fixed seeds)', () => {
    const source = seededRandomSource(crypto, fixtureSeed(6));
    // n = 3·2^30: a modulo reduction of 32-bit words would give [0, 2^30) twice the weight.
    const n = 3 * 2 ** 30;
    const thirds = Array.from({ length: 30_000 }, () => Math.floor(uniformInt(source, n) / 2 ** 30));
    const uniform3 = { lo: 0, p: new Float64Array([1 / 3, 1 / 3, 1 / 3]) };
    const test3 = chiSquareTest(thirds, uniform3);
    expect(test3.statistic).toBeLessThan(test3.critical);

    const small = Array.from({ length: 30_000 }, () => uniformInt(source, 7));
    const test7 = chiSquareTest(small, { lo: 0, p: new Float64Array(7).fill(1 / 7) });
    expect(test7.statistic).toBeLessThan(test7.critical);

    // Above 2^32: n = 5·2^40 + 3, in five bands.
    const big = 5 * 2 ** 40 + 3;
    const bands = Array.from({ length: 20_000 }, () => Math.floor((uniformInt(source, big) * 5) / big));
    const test5 = chiSquareTest(bands, { lo: 0, p: new Float64Array(5).fill(1 / 5) });
    expect(test5.statistic).toBeLessThan(test5.critical);
  });

  it('rejects bounds outside [1, 2^53]', () => {
    const source = replaySource([]);
    for (const n of [0, -3, 2.5, 2 ** 53 + 2, Number.NaN]) expect(() => uniformInt(source, n)).toThrow(PetError);
  });
});
