/**
 * The mask keystream (protocol.md §5.2, ADR 0003): IETF ChaCha20 (RFC 8439) keyed by the mask
 * seed, nonce "LibsodiumDRG", block counter from 0 — libsodium's randombytes_buf_deterministic.
 * Checked against a ChaCha20 written here from the RFC, itself checked against the RFC's vectors.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { chacha20Block, chacha20Stream, LIBSODIUM_DRG, quarterRound } from '../../test-support/reference.ts';
import { PetError } from '../errors.ts';
import { initCrypto, type PetCrypto } from './sodium.ts';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
const range = (n: number, start = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);

describe('ChaCha20 reference (RFC 8439)', () => {
  it('§2.1.1 quarter round test vector', () => {
    const x = Uint32Array.from([0x11111111, 0x01020304, 0x9b8d6f43, 0x01234567]);
    quarterRound(x, 0, 1, 2, 3);
    expect([...x]).toEqual([0xea2a92f4, 0xcb1cf8ce, 0x4581472e, 0x5881c4bb]);
  });

  it('§2.3.2 block function test vector', () => {
    const block = chacha20Block(range(32), 1, fromHex('000000090000004a00000000'));
    expect(hex(block)).toBe(
      '10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e' +
        'd2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e',
    );
  });

  it('§2.4.2 encryption test vector', () => {
    const plaintext = new Uint8Array(
      Buffer.from(
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
        'ascii',
      ),
    );
    const stream = chacha20Stream(range(32), fromHex('000000000000004a00000000'), 1, plaintext.length);
    const ciphertext = plaintext.map((b, i) => b ^ (stream[i] as number));
    expect(hex(ciphertext)).toBe(
      '6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b' +
        'f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8' +
        '07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736' +
        '5af90bbf74a35be6b40b8eedf2785e42874d',
    );
  });
});

describe('crypto.keystream (protocol.md §5.2)', () => {
  let crypto: PetCrypto;
  beforeAll(async () => {
    crypto = await initCrypto();
  });

  const seeds: [string, Uint8Array][] = [
    ['zero seed', new Uint8Array(32)],
    ['bytes 0..31', range(32)],
    ['bytes 0xff', new Uint8Array(32).fill(0xff)],
    ['bytes 200..231', range(32, 200)],
  ];

  for (const [what, seed] of seeds) {
    it(`equals ChaCha20(seed, "LibsodiumDRG", 0, 1, …) across calls, ${what}`, () => {
      const stream = crypto.keystream(seed);
      // Lengths in blocks: crosses the 64 KiB zero-buffer size and mixes small and large calls.
      const lengths = [64, 128, 64 * 1024, 64, 64 * 1024 + 64, 3 * 64, 256 * 1024, 0, 64];
      const total = lengths.reduce((a, b) => a + b, 0);
      const expected = chacha20Stream(seed, LIBSODIUM_DRG, 0, total);
      let offset = 0;
      for (const length of lengths) {
        const got = stream.next(length);
        expect(got.length).toBe(length);
        if (hex(got) !== hex(expected.subarray(offset, offset + length))) {
          throw new Error(`${what}: keystream differs in bytes ${offset}..${offset + length}`);
        }
        offset += length;
        expect(stream.position).toBe(offset);
      }
      stream.dispose();
    });
  }

  it('does not modify or keep a reference to the seed', () => {
    const seed = range(32);
    const stream = crypto.keystream(seed);
    seed.fill(0);
    expect(hex(stream.next(64))).toBe(hex(chacha20Stream(range(32), LIBSODIUM_DRG, 0, 64)));
    stream.dispose();
    expect(hex(seed)).toBe(hex(new Uint8Array(32)));
  });

  it('rejects seeds that are not 32 bytes', () => {
    expect(() => crypto.keystream(new Uint8Array(31))).toThrow(PetError);
    expect(() => crypto.keystream(new Uint8Array(33))).toThrow(expect.objectContaining({ code: 'invalid-field' }));
  });

  it('throws after dispose()', () => {
    const stream = crypto.keystream(range(32));
    stream.next(64);
    stream.dispose();
    expect(() => stream.next(64)).toThrow();
  });

  it('pins the first 64 bytes for two seeds (known answers)', () => {
    const zero = crypto.keystream(new Uint8Array(32));
    const counting = crypto.keystream(range(32));
    const pinned = {
      zero: 'a11f8f12d0876f736d2d8fd26e14c2de88f163e3271710c676c7384cb3621279fe60241816c5cf335d4e3fec25915fae69d0cba73ac4c39e44c2a59d52fae929',
      counting:
        '0d8e6cc68715648926732e7ea73250cfaf2d58422083904c841a8ba33b986111f346ba50723a68ae283524a6bded09f83be6b80595856f72e25b86918e8b114b',
    };
    expect(hex(zero.next(64))).toBe(pinned.zero);
    expect(hex(counting.next(64))).toBe(pinned.counting);
    expect(hex(chacha20Stream(new Uint8Array(32), LIBSODIUM_DRG, 0, 64))).toBe(pinned.zero);
    expect(hex(chacha20Stream(range(32), LIBSODIUM_DRG, 0, 64))).toBe(pinned.counting);
  });
});
