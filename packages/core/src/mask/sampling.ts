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

/** An empty window, and its view: a reader's before its first refill and after dispose(). */
const NO_BYTES = new Uint8Array(0);
const NO_VIEW = new DataView(NO_BYTES.buffer);
/** Room before a chunk for the bytes a refill carries over: less than one draw (≤ 264 bytes for f64/bmax). */
const CARRY_BYTES = 512;

/**
 * Readers disposed and waiting to be opened again (`KeystreamReader.open`). A mask is drawn in one
 * synchronous call, so one or two are all that is ever in use at once.
 */
const idleReaders: KeystreamReader[] = [];
const MAX_IDLE_READERS = 4;

export class KeystreamReader {
  /** Current window: `buf[pos..end)` are unread keystream bytes. */
  buf: Uint8Array = NO_BYTES;
  /** Little-endian word reads over `buf` (the float path reads two 32-bit words per draw). */
  view: DataView = NO_VIEW;
  pos = 0;
  end = 0;
  /** Keystream bytes consumed by draws so far (accepted and rejected). */
  consumed = 0;

  private stream: Keystream;
  private chunkBytes: number;
  /** The window's array: a chunk after the bytes carried over (allocated at the first refill). */
  private window: Uint8Array | undefined;
  /** Made by `open`: back to the idle readers at dispose(). */
  private pooled = false;
  /** Disposed: its stream is disposed too (and refuses to be read), until `open` hands it out again. */
  private disposed = false;

  /**
   * A reader over `stream`: one disposed earlier (its window too) when there is one, else a
   * new one; `dispose()` hands it back. Masks, mask derivation and Sum2 open their readers here.
   *
   * Why reuse: V8's optimized code for the mask loops (mask/group.ts) and the type feedback it
   * is built from depend, weakly, on what the loops reached through their reader. When every
   * reader of a round has been collected, that code is dropped and the next round's masks run
   * unoptimized until V8 has compiled the loops again (docs/architecture.md §7.6). A reader kept
   * for reuse keeps them; so does the keystream's single class (crypto/sodium.ts). Measured with
   * both changes: a round's mask of 10⁶ weights 1.0–1.5 times its warm time, against 2.2–3.2
   * (`npm run bench:mask-rounds`).
   */
  static open(stream: Keystream, expectedBytes = Number.POSITIVE_INFINITY): KeystreamReader {
    const reader = idleReaders.pop();
    if (reader === undefined) {
      const made = new KeystreamReader(stream, expectedBytes);
      made.pooled = true;
      return made;
    }
    reader.stream = stream;
    reader.chunkBytes = chunkBytesFor(expectedBytes, KEYSTREAM_CHUNK_BYTES);
    reader.disposed = false;
    return reader;
  }

  /**
   * `expectedBytes`: the keystream the caller will consume if no draw is rejected (draws ×
   * bytesPerNumber). A mask smaller than a chunk then fetches only what it needs (rounded up to
   * whole 64-byte blocks) instead of a whole chunk: deriving a 10,000-weight mask would otherwise
   * generate 256 KiB of keystream for 70 KB of draws. Rejected draws just cost more refills.
   */
  constructor(stream: Keystream, expectedBytes = Number.POSITIVE_INFINITY, chunkBytes = KEYSTREAM_CHUNK_BYTES) {
    this.stream = stream;
    this.chunkBytes = chunkBytesFor(expectedBytes, chunkBytes);
  }

  /**
   * Makes at least `n` unread bytes available (n ≤ 512). The window is the reader's own array,
   * kept across `open`s: the bytes left over (fewer than one draw) move to its start and the next
   * chunk is written after them (`Keystream.nextInto`), so drawing a mask allocates nothing. A
   * stream that can only return arrays (`next`) has each chunk copied in and wiped.
   */
  refill(n: number): void {
    const left = this.end - this.pos;
    if (left >= n) return;
    const size = this.chunkBytes + CARRY_BYTES;
    let window = this.window;
    if (window === undefined || window.length < size) {
      const grown = new Uint8Array(size);
      grown.set(this.buf.subarray(this.pos, this.end));
      window?.fill(0);
      window = grown;
      this.window = grown;
    } else if (left > 0) {
      window.copyWithin(0, this.pos, this.end);
    }
    const stream = this.stream;
    if (stream.nextInto !== undefined) {
      stream.nextInto(window, left, this.chunkBytes);
    } else {
      const chunk = stream.next(this.chunkBytes);
      window.set(chunk, left);
      chunk.fill(0);
    }
    if (this.buf !== window) {
      this.buf = window;
      this.view = new DataView(window.buffer, window.byteOffset, window.byteLength);
    }
    this.pos = 0;
    this.end = left + this.chunkBytes;
  }

  /** Wipes what the reader holds and disposes its stream; a reader from `open` goes back for reuse. */
  dispose(): void {
    if (this.disposed) return; // never handed back twice
    this.disposed = true;
    this.window?.fill(0);
    // The disposed stream stays referenced until the next `open`: its key is wiped, its next() throws.
    this.stream.dispose();
    this.buf = NO_BYTES;
    this.view = NO_VIEW;
    this.pos = 0;
    this.end = 0;
    this.consumed = 0;
    if (this.pooled && idleReaders.length < MAX_IDLE_READERS) idleReaders.push(this);
  }
}

function chunkBytesFor(expectedBytes: number, chunkBytes: number): number {
  return Math.min(chunkBytes, Math.max(64, Math.ceil(expectedBytes / 64) * 64));
}
