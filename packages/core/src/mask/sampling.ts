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
  buf: Uint8Array = new Uint8Array(0);
  /** Little-endian word reads over `buf` (the float path reads two 32-bit words per draw). */
  view: DataView = new DataView(this.buf.buffer);
  pos = 0;
  end = 0;
  /** Keystream bytes consumed by draws so far (accepted and rejected). */
  consumed = 0;

  private readonly stream: Keystream;
  private readonly chunkBytes: number;
  /** Where a window starts that must carry unread bytes over (allocated at the first such refill). */
  private carry: Uint8Array | undefined;

  /**
   * `expectedBytes`: the keystream the caller will consume if no draw is rejected (draws ×
   * bytesPerNumber). A mask smaller than a chunk then fetches only what it needs (rounded up to
   * whole 64-byte blocks) instead of a whole chunk: deriving a 10,000-weight mask would otherwise
   * generate 256 KiB of keystream for 70 KB of draws. Rejected draws just cost more refills.
   */
  constructor(stream: Keystream, expectedBytes = Number.POSITIVE_INFINITY, chunkBytes = KEYSTREAM_CHUNK_BYTES) {
    this.stream = stream;
    this.chunkBytes = Math.min(chunkBytes, Math.max(64, Math.ceil(expectedBytes / 64) * 64));
  }

  /**
   * Makes at least `n` unread bytes available (n ≤ 512). A window with nothing left over is the
   * keystream chunk itself (each `Keystream.next` returns an array of its own): a mask that fits
   * one chunk — every mask of up to ~37,000 weights — is drawn without a copy or a buffer of the
   * reader's own. Only bytes left over are copied, with the next chunk, into the carry buffer.
   */
  refill(n: number): void {
    const left = this.end - this.pos;
    if (left >= n) return;
    const chunk = this.stream.next(this.chunkBytes);
    if (left === 0) {
      this.wipeWindow();
      this.buf = chunk;
    } else {
      // Room for one chunk plus the tail of the previous one (< one element, ≤ 264 bytes for f64/bmax).
      const carry = this.carry ?? new Uint8Array(this.chunkBytes + 512);
      if (this.buf === carry) {
        carry.copyWithin(0, this.pos, this.end);
      } else {
        carry.set(this.buf.subarray(this.pos, this.end), 0);
        this.wipeWindow();
      }
      carry.set(chunk, left);
      chunk.fill(0);
      this.carry = carry;
      this.buf = carry;
    }
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.pos = 0;
    this.end = left + chunk.length;
  }

  dispose(): void {
    this.wipeWindow();
    this.carry?.fill(0);
    this.stream.dispose();
  }

  /** Zeroes the current window unless it is the carry buffer (which is reused, and wiped at dispose). */
  private wipeWindow(): void {
    if (this.buf !== this.carry) this.buf.fill(0);
  }
}
