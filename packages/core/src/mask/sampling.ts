/**
 * Uniform sampling of group elements from a mask keystream (protocol.md §5.3).
 *
 * Each draw reads `bytesPerNumber` keystream bytes as a little-endian
 * integer, clears every bit above `elementBits` (the bit length of order − 1)
 * and accepts the value when it is below the order, else draws again. Power2
 * orders equal 2^elementBits and never reject. Bytes are consumed strictly in
 * order, so every platform derives the same masks from the same seed.
 *
 * The reader holds one keystream chunk at a time: memory is bounded for any
 * model size.
 */

import type { Keystream } from '../crypto/sodium.ts';

/** Keystream bytes fetched per refill; a multiple of the 64-byte ChaCha20 block. */
export const KEYSTREAM_CHUNK_BYTES = 256 * 1024;

export class KeystreamReader {
  /** Current window: `buf[pos..end)` are unread keystream bytes. */
  buf: Uint8Array;
  /** Little-endian word reads over `buf` (the float path reads two 32-bit words per draw). */
  readonly view: DataView;
  pos = 0;
  end = 0;
  /** Keystream bytes consumed by draws so far (accepted and rejected). */
  consumed = 0;

  private readonly stream: Keystream;
  private readonly chunkBytes: number;

  /**
   * `expectedBytes`: the keystream the caller will consume if no draw is rejected (draws ×
   * bytesPerNumber). A mask smaller than a chunk then fetches only what it needs (rounded up to
   * whole 64-byte blocks) instead of a whole chunk: deriving a 10,000-weight mask would otherwise
   * generate 256 KiB of keystream for 70 KB of draws. Rejected draws just cost more refills.
   */
  constructor(stream: Keystream, expectedBytes = Number.POSITIVE_INFINITY, chunkBytes = KEYSTREAM_CHUNK_BYTES) {
    this.stream = stream;
    this.chunkBytes = Math.min(chunkBytes, Math.max(64, Math.ceil(expectedBytes / 64) * 64));
    // Room for one chunk plus the tail of the previous one (< one element, ≤ 264 bytes for f64/bmax).
    this.buf = new Uint8Array(this.chunkBytes + 512);
    this.view = new DataView(this.buf.buffer);
  }

  /** Makes at least `n` unread bytes available (n ≤ 512). */
  refill(n: number): void {
    const left = this.end - this.pos;
    if (left >= n) return;
    this.buf.copyWithin(0, this.pos, this.end);
    const chunk = this.stream.next(this.chunkBytes);
    this.buf.set(chunk, left);
    this.pos = 0;
    this.end = left + chunk.length;
  }

  dispose(): void {
    this.buf.fill(0);
    this.stream.dispose();
  }
}
