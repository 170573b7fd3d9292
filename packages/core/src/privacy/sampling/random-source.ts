/**
 * The randomness port of the noise samplers: uniform 32-bit words, and uniform integers below a
 * bound drawn from them without modulo bias.
 *
 * Both adapters read a ChaCha20 keystream (protocol.md §5.2) 4 bytes at a time, little-endian,
 * strictly in order:
 * - `cryptoRandomSource` (the default: noise that protects a participant must be unpredictable to
 *   everyone else) keys the keystream with 32 fresh bytes of libsodium's `randombytes_buf` for
 *   every MiB it produces, wiping each key. Buffering `randombytes_buf` itself would be too slow:
 *   libsodium.js fetches every 4 of its bytes with a separate `crypto.getRandomValues` call
 *   (measured ≤ 0.1 MB/s in Node against ~40 MB/s for the keystream), and a million noise draws
 *   need ~50 MB. ChaCha20 under a uniformly random secret key is indistinguishable from random
 *   bytes (the construction of libsodium's own internal generator); changing keys also means a
 *   later leak of memory reveals no noise drawn more than a MiB earlier;
 * - `seededRandomSource` reads the keystream of one 32-byte seed, for tests and for reproducing
 *   a run: the same seed gives the same words on every platform.
 *
 * `uniformInt` clears the bits above the bit length of n − 1 and rejects values ≥ n, as mask
 * sampling does (protocol.md §5.3): every value in [0, n) has probability exactly 1/n, and a draw
 * is rejected with probability below 1/2.
 */

import { type Keystream, type PetCrypto, SEED_BYTES } from '../../crypto/sodium.ts';
import { PetError } from '../../errors.ts';
import { KeystreamReader } from '../../mask/sampling.ts';

/** Independent uniform 32-bit words. */
export interface RandomSource {
  /** A uniform integer in [0, 2^32). */
  nextUint32(): number;
}

/** A source that holds secret state until `dispose()` wipes it; later draws throw. */
export interface DisposableRandomSource extends RandomSource {
  dispose(): void;
}

/** Keystream bytes per refill (a multiple of the 64-byte block; the keystream's fast size). */
export const RANDOM_CHUNK_BYTES = 64 * 1024;
/** Keystream bytes per fresh key of the crypto source: one `randombytes_buf(32)` per MiB. */
export const CRYPTO_KEY_BYTES = 1024 * 1024;

const TWO_32 = 2 ** 32;

function readerSource(reader: KeystreamReader): DisposableRandomSource {
  let disposed = false;
  return {
    nextUint32() {
      if (disposed) throw new PetError('crypto-failed', 'random source: used after dispose()');
      reader.refill(4);
      const word = reader.view.getUint32(reader.pos, true);
      reader.pos += 4;
      reader.consumed += 4;
      return word;
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      reader.dispose();
    },
  };
}

/**
 * A keystream that changes to a fresh key from `randombytes_buf` every `keyBytes` bytes. The chunk
 * it returns is wiped on the following call (the reader has copied it by then) and on dispose().
 */
function freshKeyStream(crypto: PetCrypto, keyBytes: number): Keystream {
  let position = 0;
  let stream: Keystream | undefined;
  let left = 0;
  let last: Uint8Array | undefined;
  let disposed = false;
  return {
    get position() {
      return position;
    },
    next(length) {
      if (disposed) throw new PetError('crypto-failed', 'random source: used after dispose()');
      if (last !== undefined) crypto.wipe(last);
      if (stream === undefined || left < length) {
        stream?.dispose();
        // SECURITY: a ChaCha20 key for the next keyBytes bytes; this copy is wiped at once, the
        // stream's own copy when the stream is replaced or disposed.
        const key = crypto.randomBytes(SEED_BYTES);
        stream = crypto.keystream(key);
        crypto.wipe(key);
        left = keyBytes;
      }
      last = stream.next(length);
      left -= last.length;
      position += last.length;
      return last;
    },
    dispose() {
      disposed = true;
      stream?.dispose();
      if (last !== undefined) crypto.wipe(last);
    },
  };
}

/**
 * Words from ChaCha20 chunks of `chunkBytes`, under a fresh key from libsodium's CSPRNG every
 * `keyBytes` (module comment).
 */
export function cryptoRandomSource(
  crypto: PetCrypto,
  chunkBytes = RANDOM_CHUNK_BYTES,
  keyBytes = CRYPTO_KEY_BYTES,
): DisposableRandomSource {
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 64 || chunkBytes % 64 !== 0 || keyBytes < chunkBytes) {
    throw new PetError(
      'out-of-range',
      `random source chunk: expected a positive multiple of 64 bytes up to ${keyBytes}, got ${chunkBytes}`,
    );
  }
  // SECURITY: unread keystream decides this participant's noise; the reader wipes it on dispose().
  return readerSource(new KeystreamReader(freshKeyStream(crypto, keyBytes), Number.POSITIVE_INFINITY, chunkBytes));
}

/**
 * Words from the ChaCha20 keystream of `seed` (protocol.md §5.2), for tests and reproducible runs.
 * SECURITY: noise drawn from a seed is known to whoever knows the seed. Use a fresh seed for noise
 * only — never a mask seed, whose keystream the sum participants can derive — and keep it as
 * secret as the update itself.
 */
export function seededRandomSource(crypto: PetCrypto, seed: Uint8Array): DisposableRandomSource {
  return readerSource(new KeystreamReader(crypto.keystream(seed), Number.POSITIVE_INFINITY, RANDOM_CHUNK_BYTES));
}

/** The crypto source by default; the seeded one when a seed is given (tests, reproduction). */
export function randomSource(crypto: PetCrypto, seed?: Uint8Array): DisposableRandomSource {
  return seed === undefined ? cryptoRandomSource(crypto) : seededRandomSource(crypto, seed);
}

/**
 * A uniform integer in [0, n) for an integer 1 ≤ n ≤ 2^53: the low ⌈log2 n⌉ bits of one word
 * (two above 2^32, high word first), rejected and drawn again while ≥ n.
 */
export function uniformInt(source: RandomSource, n: number): number {
  if (n <= TWO_32) {
    if (n === 1) return 0;
    if (!(n > 1) || !Number.isInteger(n)) {
      throw new PetError('out-of-range', `uniformInt: expected 1 ≤ n ≤ 2^53, got ${n}`);
    }
    // n − 1 < 2^32: the mask keeps exactly the bits that n − 1 uses.
    const mask = 0xffffffff >>> Math.clz32(n - 1);
    for (;;) {
      const v = (source.nextUint32() & mask) >>> 0;
      if (v < n) return v;
    }
  }
  if (!Number.isSafeInteger(n - 1) || !Number.isInteger(n)) {
    throw new PetError('out-of-range', `uniformInt: expected 1 ≤ n ≤ 2^53, got ${n}`);
  }
  const hiMask = 0xffffffff >>> Math.clz32(Math.floor((n - 1) / TWO_32));
  for (;;) {
    const hi = (source.nextUint32() & hiMask) >>> 0;
    const v = hi * TWO_32 + source.nextUint32();
    if (v < n) return v;
  }
}
