/**
 * The libsodium gate (ADR 0002): signatures, sealed boxes, SHA-256 and the keystream lifecycle.
 * Known answers from RFC 8032 (Ed25519) and FIPS 180-2 (SHA-256).
 */

import sodium from 'libsodium-wrappers-sumo';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { codeOf } from '../../test-support/reference.ts';
import { SMALL_ORDER_ENCODINGS } from './encrypt-public-key.ts';
import {
  ENCRYPT_PUBLIC_KEY_BYTES,
  initCrypto,
  installRandomPool,
  type PetCrypto,
  type RandomSource,
  SEAL_OVERHEAD_BYTES,
  SIGNATURE_BYTES,
  SIGNING_PUBLIC_KEY_BYTES,
  SIGNING_SECRET_KEY_BYTES,
} from './sodium.ts';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));
const ascii = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'ascii'));
const flip = (bytes: Uint8Array, i: number, bit = 0): Uint8Array => {
  const out = bytes.slice();
  out[i] = (out[i] as number) ^ (1 << bit);
  return out;
};

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

describe('initCrypto', () => {
  it('resolves to the same object every time', async () => {
    expect(await initCrypto()).toBe(crypto);
  });
});

describe('Ed25519', () => {
  it('RFC 8032 §7.1 test 1: key pair from the seed, signature of the empty message', () => {
    const keys = crypto.signingKeyPair(fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'));
    expect(hex(keys.publicKey)).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    const signature = crypto.sign(new Uint8Array(0), keys.secretKey);
    expect(hex(signature)).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
    expect(crypto.verify(signature, new Uint8Array(0), keys.publicKey)).toBe(true);
  });

  it('sign/verify round trip; a flipped bit in signature, message or key is rejected', () => {
    const keys = crypto.signingKeyPair();
    expect(keys.publicKey).toHaveLength(SIGNING_PUBLIC_KEY_BYTES);
    expect(keys.secretKey).toHaveLength(SIGNING_SECRET_KEY_BYTES);
    const message = ascii('round seed ‖ sum');
    const signature = crypto.sign(message, keys.secretKey);
    expect(signature).toHaveLength(SIGNATURE_BYTES);
    expect(crypto.verify(signature, message, keys.publicKey)).toBe(true);
    for (const i of [0, 17, 63]) expect(crypto.verify(flip(signature, i, 3), message, keys.publicKey)).toBe(false);
    expect(crypto.verify(signature, flip(message, 2), keys.publicKey)).toBe(false);
    expect(crypto.verify(signature, message, flip(keys.publicKey, 5))).toBe(false);
    expect(crypto.verify(signature, message, crypto.signingKeyPair().publicKey)).toBe(false);
  });

  it('fresh key pairs differ; seeded ones are reproducible', () => {
    expect(hex(crypto.signingKeyPair().publicKey)).not.toBe(hex(crypto.signingKeyPair().publicKey));
    const seed = new Uint8Array(32).fill(42);
    expect(hex(crypto.signingKeyPair(seed).secretKey)).toBe(hex(crypto.signingKeyPair(seed).secretKey));
  });

  it('wrong key or seed lengths → invalid-field (sign, key seed); verify just answers false', () => {
    const keys = crypto.signingKeyPair();
    const message = ascii('m');
    expect(codeOf(() => crypto.sign(message, keys.secretKey.subarray(0, 63)))).toBe('invalid-field');
    expect(codeOf(() => crypto.sign(message, keys.publicKey))).toBe('invalid-field');
    expect(() => crypto.sign(message, new Uint8Array(65))).toThrow(/signing secret key: expected 64 bytes, got 65/);
    expect(codeOf(() => crypto.signingKeyPair(new Uint8Array(31)))).toBe('invalid-field');
    expect(codeOf(() => crypto.encryptKeyPair(new Uint8Array(33)))).toBe('invalid-field');
    const signature = crypto.sign(message, keys.secretKey);
    expect(crypto.verify(signature.subarray(0, 63), message, keys.publicKey)).toBe(false);
    expect(crypto.verify(signature, message, keys.publicKey.subarray(0, 31))).toBe(false);
  });
});

describe('sealed boxes', () => {
  it('seal/openSealed round trip with 48 bytes overhead', () => {
    const keys = crypto.encryptKeyPair();
    expect(keys.publicKey).toHaveLength(ENCRYPT_PUBLIC_KEY_BYTES);
    for (const length of [0, 1, 32, 1000]) {
      const message = Uint8Array.from({ length }, (_, i) => (i * 7) & 0xff);
      const sealed = crypto.seal(message, keys.publicKey);
      expect(sealed).toHaveLength(length + SEAL_OVERHEAD_BYTES);
      expect(hex(crypto.openSealed(sealed, keys))).toBe(hex(message));
    }
    // anonymous and randomized: sealing twice gives different boxes
    const m = ascii('mask seed');
    expect(hex(crypto.seal(m, keys.publicKey))).not.toBe(hex(crypto.seal(m, keys.publicKey)));
  });

  it('seeded X25519 key pairs are reproducible', () => {
    const seed = new Uint8Array(32).fill(1);
    const a = crypto.encryptKeyPair(seed);
    const sealed = crypto.seal(ascii('x'), a.publicKey);
    expect(hex(crypto.openSealed(sealed, crypto.encryptKeyPair(seed)))).toBe(hex(ascii('x')));
  });

  it('a wrong key, a truncated or a flipped ciphertext → decrypt-failed', () => {
    const keys = crypto.encryptKeyPair();
    const sealed = crypto.seal(ascii('the mask seed, 32 bytes long....'), keys.publicKey);
    expect(codeOf(() => crypto.openSealed(sealed, crypto.encryptKeyPair()))).toBe('decrypt-failed');
    expect(codeOf(() => crypto.openSealed(sealed.subarray(0, sealed.length - 1), keys))).toBe('decrypt-failed');
    expect(codeOf(() => crypto.openSealed(sealed.subarray(0, SEAL_OVERHEAD_BYTES - 1), keys))).toBe('decrypt-failed');
    expect(codeOf(() => crypto.openSealed(new Uint8Array(0), keys))).toBe('decrypt-failed');
    for (const i of [0, 31, 32, 47, 48, sealed.length - 1]) {
      expect(
        codeOf(() => crypto.openSealed(flip(sealed, i), keys)),
        `byte ${i}`,
      ).toBe('decrypt-failed');
    }
    expect(() => crypto.openSealed(sealed, crypto.encryptKeyPair(), 'seed dictionary entry')).toThrow(
      /seed dictionary entry/,
    );
  });

  it('a public key of the wrong length, small order or non-canonical → invalid-key naming the field', () => {
    expect(codeOf(() => crypto.seal(ascii('x'), new Uint8Array(31)))).toBe('invalid-key');
    expect(codeOf(() => crypto.seal(ascii('x'), new Uint8Array(33)))).toBe('invalid-key');
    // libsodium itself refuses these with a bare Error('invalid usage'): the gate answers first
    for (const [i, key] of SMALL_ORDER_ENCODINGS.entries()) {
      expect(
        codeOf(() => crypto.seal(ascii('x'), key)),
        `small-order encoding ${i}`,
      ).toBe('invalid-key');
    }
    expect(() => crypto.seal(ascii('x'), new Uint8Array(32), 'ephemeral key of AAAA')).toThrow(
      /^ephemeral key of AAAA: expected an X25519 public key, got a small-order point/,
    );
    const valid = crypto.encryptKeyPair();
    const topBit = valid.publicKey.slice();
    topBit[31] = (topBit[31] as number) | 0x80; // X25519 reads the same key: a second name for it
    expect(codeOf(() => crypto.seal(ascii('x'), topBit))).toBe('invalid-key');
    expect(hex(crypto.openSealed(crypto.seal(ascii('x'), valid.publicKey, 'k'), valid))).toBe(hex(ascii('x')));
  });
});

describe('sealToEach: one message to many keys under one ephemeral key (ADR 0016)', () => {
  it('gives one box per key, in order, each opened by its own key only, all with the same ephemeral key', () => {
    const pairs = Array.from({ length: 5 }, () => crypto.encryptKeyPair());
    const message = ascii('the mask seed, 32 bytes long....');
    const boxes = crypto.sealToEach(
      message,
      pairs.map((pair) => pair.publicKey),
    );
    expect(boxes).toHaveLength(pairs.length);
    for (const [i, box] of boxes.entries()) {
      expect(box).toHaveLength(message.length + SEAL_OVERHEAD_BYTES);
      expect(hex(box.subarray(0, ENCRYPT_PUBLIC_KEY_BYTES))).toBe(hex((boxes[0] as Uint8Array).subarray(0, 32)));
      for (const [j, pair] of pairs.entries()) {
        if (i === j) expect(hex(crypto.openSealed(box, pair))).toBe(hex(message));
        else
          expect(
            codeOf(() => crypto.openSealed(box, pair)),
            `box ${i}, key ${j}`,
          ).toBe('decrypt-failed');
      }
    }
    // the boxes' bodies differ (a key and a nonce per recipient), and a second call draws a new key
    expect(new Set(boxes.map((box) => hex(box.subarray(ENCRYPT_PUBLIC_KEY_BYTES)))).size).toBe(pairs.length);
    const again = crypto.sealToEach(message, [(pairs[0] as { publicKey: Uint8Array }).publicKey]);
    expect(hex((again[0] as Uint8Array).subarray(0, 32))).not.toBe(hex((boxes[0] as Uint8Array).subarray(0, 32)));
    expect(crypto.sealToEach(message, [])).toEqual([]);
  });

  it('checks every key before sealing any: a bad one is invalid-key, named by field(index)', () => {
    const valid = crypto.encryptKeyPair().publicKey;
    const topBit = valid.slice();
    topBit[31] = (topBit[31] as number) | 0x80;
    for (const bad of [new Uint8Array(31), SMALL_ORDER_ENCODINGS[0] as Uint8Array, topBit]) {
      expect(codeOf(() => crypto.sealToEach(ascii('x'), [valid, bad]))).toBe('invalid-key');
    }
    expect(() => crypto.sealToEach(ascii('x'), [valid, new Uint8Array(32)])).toThrow(/^sealing public key 1: /);
    expect(() =>
      crypto.sealToEach(ascii('x'), [valid, valid, new Uint8Array(32)], (i) => `ephemeral key of sum participant ${i}`),
    ).toThrow(/^ephemeral key of sum participant 2: expected an X25519 public key, got a small-order point/);
  });
});

describe('every libsodium failure is a PetError naming the operation', () => {
  // Values that pass TypeScript's types only by a cast: what a caller with a bug (or a decoder
  // that let something through) could hand over. libsodium throws TypeError or Error for each.
  const notBytes = 42 as unknown as Uint8Array;

  it('seal, sign, hash, randomBytes and wipe → crypto-failed, never a bare Error', () => {
    const keys = crypto.encryptKeyPair();
    const signing = crypto.signingKeyPair();
    const cases: [string, () => unknown, RegExp][] = [
      ['seal', () => crypto.seal(notBytes, keys.publicKey, 'round key'), /^round key: sealing: libsodium failed/],
      ['sign', () => crypto.sign(notBytes, signing.secretKey), /^signing \(Ed25519\): libsodium failed/],
      ['hash', () => crypto.hash(notBytes), /^hashing \(SHA-256\): libsodium failed/],
      ['randomBytes', () => crypto.randomBytes(-1), /^random bytes \(-1\): libsodium failed/],
      ['wipe', () => crypto.wipe([1, 2] as unknown as Uint8Array), /^wiping a buffer: libsodium failed/],
    ];
    for (const [name, run, message] of cases) {
      expect(codeOf(run), name).toBe('crypto-failed');
      expect(run, name).toThrow(message);
    }
  });

  it('opening: a short or foreign box → decrypt-failed; a key pair of the wrong lengths → invalid-key', () => {
    const keys = crypto.encryptKeyPair();
    const sealed = crypto.seal(ascii('the mask seed, 32 bytes long....'), keys.publicKey);
    const shortSecret = { publicKey: keys.publicKey, secretKey: keys.secretKey.subarray(0, 31) };
    expect(codeOf(() => crypto.openSealed(sealed, shortSecret, 'mask seed of X'))).toBe('invalid-key');
    expect(() => crypto.openSealed(sealed, shortSecret, 'mask seed of X')).toThrow(
      /^mask seed of X: opening secret key: expected 32 bytes, got 31 bytes/,
    );
    const shortPublic = { publicKey: keys.publicKey.subarray(1), secretKey: keys.secretKey };
    expect(codeOf(() => crypto.openSealed(sealed, shortPublic))).toBe('invalid-key');
    expect(codeOf(() => crypto.openSealed(notBytes, keys))).toBe('decrypt-failed');
  });

  it('a keystream used after dispose() or misused → crypto-failed', () => {
    const stream = crypto.keystream(new Uint8Array(32).fill(5));
    expect(codeOf(() => stream.next(-64))).toBe('crypto-failed');
    stream.dispose();
    expect(codeOf(() => stream.next(64))).toBe('crypto-failed');
    expect(() => stream.next(64)).toThrow('mask keystream: used after dispose()');
    expect(() => stream.nextInto?.(new Uint8Array(64), 0, 64)).toThrow('mask keystream: used after dispose()');
  });

  it('a keystream written into an array that cannot hold it → crypto-failed, and the stream does not move', () => {
    const stream = crypto.keystream(new Uint8Array(32).fill(5));
    expect(codeOf(() => stream.nextInto?.(new Uint8Array(100), 40, 64))).toBe('crypto-failed');
    expect(() => stream.nextInto?.(new Uint8Array(100), -1, 64)).toThrow(/64 bytes at -1 do not fit in 100/);
    expect(stream.position).toBe(0);
    stream.dispose();
  });
});

describe('hash, randomness, wipe', () => {
  it('SHA-256 known answers (FIPS 180-2)', () => {
    expect(hex(crypto.hash(ascii('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hex(crypto.hash(new Uint8Array(0)))).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });

  it('randomBytes returns fresh bytes of the requested length', () => {
    expect(crypto.randomBytes(32)).toHaveLength(32);
    expect(hex(crypto.randomBytes(32))).not.toBe(hex(crypto.randomBytes(32)));
  });

  it('wipe zeroes a buffer in place', () => {
    const secret = Uint8Array.from({ length: 40 }, (_, i) => i + 1);
    crypto.wipe(secret);
    expect(secret.every((b) => b === 0)).toBe(true);
  });
});

describe('the random pool (ADR 0014)', () => {
  /** A source that fills with 1, 2, 3, … and keeps the arrays it filled. */
  function countingSource(): RandomSource & { readonly filled: Uint32Array[] } {
    let n = 0;
    const filled: Uint32Array[] = [];
    return {
      filled,
      getRandomValues(array: Uint32Array) {
        filled.push(array);
        for (let i = 0; i < array.length; i++) array[i] = ++n;
        return array;
      },
    };
  }

  it("serves libsodium's words from one fill of 1,024, zeroing each as it goes", () => {
    const module = { getRandomValue: () => 0 };
    const source = countingSource();
    expect(installRandomPool(module, source)).toBe(true);
    const words = Array.from({ length: 1025 }, () => module.getRandomValue());
    expect(words).toEqual(Array.from({ length: 1025 }, (_, i) => i + 1));
    expect(source.filled).toHaveLength(2); // the 1,025th word needed a second fill
    const pool = source.filled[0] as Uint32Array;
    expect(pool[0]).toBe(0); // served: zeroed
    expect(pool[1]).toBe(1026); // refilled, not yet served
  });

  it('changes nothing without a hook or a source, and installs once', () => {
    expect(installRandomPool(undefined, countingSource())).toBe(false);
    expect(installRandomPool({}, countingSource())).toBe(false);
    const own = () => 7;
    const module = { getRandomValue: own };
    expect(installRandomPool(module, undefined)).toBe(false);
    expect(module.getRandomValue).toBe(own);
    const first = countingSource();
    expect(installRandomPool(module, first)).toBe(true);
    const installed = module.getRandomValue;
    expect(installRandomPool(module, countingSource())).toBe(true);
    expect(module.getRandomValue).toBe(installed);
    module.getRandomValue();
    expect(first.filled).toHaveLength(1);
  });

  it("is libsodium's source after initCrypto: 64 random bytes, a sealed box and a key pair draw at most one fill", () => {
    const spy = vi.spyOn(globalThis.crypto, 'getRandomValues');
    try {
      const bytes = crypto.randomBytes(64);
      const pair = crypto.encryptKeyPair();
      const sealed = crypto.seal(ascii('pooled'), pair.publicKey);
      expect(spy.mock.calls.length).toBeLessThanOrEqual(1); // libsodium's own glue: one call a byte (192 here)
      expect(bytes.some((b) => b !== 0)).toBe(true);
      expect(Buffer.from(crypto.openSealed(sealed, pair)).toString('ascii')).toBe('pooled');
    } finally {
      spy.mockRestore();
    }
  });
});

describe('keystream lifecycle', () => {
  it('next after dispose throws', () => {
    const stream = crypto.keystream(new Uint8Array(32).fill(5));
    expect(stream.next(64)).toHaveLength(64);
    stream.dispose();
    expect(() => stream.next(64)).toThrow();
  });

  it('nextInto writes the bytes next returns, at any offset, and leaves the rest of the array alone', () => {
    const seed = new Uint8Array(32).fill(7);
    const reference = crypto.keystream(seed);
    const into = crypto.keystream(seed);
    // Lengths across the scratch area's growth (64 KiB granules) and a partial last block.
    for (const length of [64, 640, 262_144, 64, 300_032, 100]) {
      const want = reference.next(length);
      const out = new Uint8Array(length + 96).fill(0xa5);
      into.nextInto?.(out, 32, length);
      expect(Buffer.from(out.subarray(32, 32 + length)).equals(Buffer.from(want))).toBe(true);
      expect(out.subarray(0, 32).every((b) => b === 0xa5)).toBe(true);
      expect(out.subarray(32 + length).every((b) => b === 0xa5)).toBe(true);
      expect(into.position).toBe(reference.position);
    }
    // libsodium's own deterministic generator: the first 1,024 bytes of the stream (protocol.md §5.2).
    const fresh = crypto.keystream(seed);
    const first = new Uint8Array(1024);
    fresh.nextInto?.(first, 0, 1024);
    expect(hex(first)).toBe(hex(sodium.randombytes_buf_deterministic(1024, seed)));
    for (const stream of [reference, into, fresh]) stream.dispose();
  });

  it('two streams of the same seed are identical and independent', () => {
    const seed = new Uint8Array(32).fill(6);
    const a = crypto.keystream(seed);
    const b = crypto.keystream(seed);
    const a1 = a.next(128);
    expect(hex(b.next(64)) + hex(b.next(64))).toBe(hex(a1));
    a.dispose();
    expect(b.next(64)).toHaveLength(64);
    b.dispose();
  });
});
