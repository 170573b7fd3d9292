/**
 * The keystream reader (sampling.ts, protocol.md §5.3): the elements drawn do not depend on how
 * the keystream is cut into chunks — a window that is the chunk itself, or one that carries the
 * bytes left over into its own buffer — and no keystream byte it held is left behind once it is
 * done with a window or disposed.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { initCrypto, type Keystream, type PetCrypto } from '../crypto/sodium.ts';
import { type MaskConfig, maskParams } from './config.ts';
import { groupFor } from './group.ts';
import { KeystreamReader } from './sampling.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

/** A keystream that remembers every chunk it handed out. */
function recording(seed: Uint8Array): { stream: Keystream; chunks: Uint8Array[] } {
  const inner = crypto.keystream(seed);
  const chunks: Uint8Array[] = [];
  const stream: Keystream = {
    get position() {
      return inner.position;
    },
    next(length) {
      const chunk = inner.next(length);
      chunks.push(chunk);
      return chunk;
    },
    dispose: () => inner.dispose(),
  };
  return { stream, chunks };
}

const CONFIGS: MaskConfig[] = [
  { group: 'power2', data: 'f32', bound: 'b2', model: 'm3' }, // 51-bit elements, 7 bytes a draw: the default
  { group: 'prime', data: 'f32', bound: 'b2', model: 'm3' }, // rejections
  { group: 'integer', data: 'f64', bound: 'bmax', model: 'm12' }, // many 32-bit limbs a draw
];

describe('KeystreamReader', () => {
  for (const config of CONFIGS) {
    it(`draws the same elements whatever the chunk size (${config.group}/${config.data}/${config.bound}/${config.model})`, () => {
      const group = groupFor(maskParams(config));
      const seed = new Uint8Array(32).fill(9);
      const count = 3000;
      const drawWith = (chunkBytes: number) => {
        const reader = new KeystreamReader(crypto.keystream(seed), Number.POSITIVE_INFINITY, chunkBytes);
        const out = group.alloc(count);
        group.draw(reader, out, 0, count);
        const consumed = reader.consumed;
        reader.dispose();
        return { out: Array.from(out as ArrayLike<number>), consumed };
      };
      const whole = drawWith(1 << 20); // one window: the first chunk itself
      // (A chunk holds at least one draw: 576 bytes exceed the largest, 264.)
      for (const chunkBytes of [576, 640, 4096]) expect(drawWith(chunkBytes)).toStrictEqual(whole);
    });
  }

  it('a stream that only returns arrays: each chunk is copied into the window and wiped; dispose wipes the window', () => {
    const group = groupFor(maskParams(CONFIGS[0] as MaskConfig));
    const { stream, chunks } = recording(new Uint8Array(32).fill(4));
    const reader = new KeystreamReader(stream, Number.POSITIVE_INFINITY, 128);
    const out = group.alloc(200);
    group.draw(reader, out, 0, 200); // 1,400 bytes: windows carried over at 128-byte chunks
    expect(chunks.length).toBeGreaterThan(10);
    for (const chunk of chunks) expect(chunk.every((b) => b === 0)).toBe(true);
    expect(reader.buf.some((b) => b !== 0)).toBe(true);
    const window = reader.buf;
    reader.dispose();
    expect(window.every((b) => b === 0)).toBe(true);

    // The same draws as the keystream written into the window (nextInto): the mask loops' way.
    const direct = new KeystreamReader(crypto.keystream(new Uint8Array(32).fill(4)), Number.POSITIVE_INFINITY, 128);
    const again = group.alloc(200);
    group.draw(direct, again, 0, 200);
    expect(Array.from(again as ArrayLike<number>)).toStrictEqual(Array.from(out as ArrayLike<number>));
    direct.dispose();
  });

  it('draws a mask into one window of its own, kept from draw to draw, and wipes it at dispose', () => {
    const group = groupFor(maskParams(CONFIGS[0] as MaskConfig));
    const reader = new KeystreamReader(crypto.keystream(new Uint8Array(32).fill(5)), Number.POSITIVE_INFINITY, 640);
    const out = group.alloc(2000);
    group.draw(reader, out, 0, 1); // the first refill makes the window
    const window = reader.buf;
    expect(window.length).toBe(640 + 512);
    group.draw(reader, out, 1, 1999); // 14,000 bytes: 22 refills more
    expect(reader.buf).toBe(window);
    reader.dispose();
    expect(window.every((b) => b === 0)).toBe(true);
  });

  describe('open (readers reused)', () => {
    const config = CONFIGS[0] as MaskConfig;
    const count = 100_000; // 700,000 bytes: windows carried over at the 256 KiB chunks `open` reads
    const drawAll = (reader: KeystreamReader) => {
      const out = groupFor(maskParams(config)).alloc(count);
      groupFor(maskParams(config)).draw(reader, out, 0, count);
      return out;
    };

    it('hands a disposed reader out again, which reads its new stream from the start', () => {
      const first = KeystreamReader.open(crypto.keystream(new Uint8Array(32).fill(1)));
      drawAll(first);
      first.dispose();
      const seed = new Uint8Array(32).fill(2);
      const again = KeystreamReader.open(crypto.keystream(seed), count * 7);
      expect(again).toBe(first);
      const reused = drawAll(again);
      const consumed = again.consumed;
      again.dispose();
      const fresh = new KeystreamReader(crypto.keystream(seed), count * 7);
      expect(Buffer.from(reused.buffer).equals(Buffer.from(drawAll(fresh).buffer))).toBe(true);
      expect(consumed).toBe(fresh.consumed);
      fresh.dispose();
    });

    it('takes a reader disposed twice back once, and a disposed reader reads nothing', () => {
      const reader = KeystreamReader.open(crypto.keystream(new Uint8Array(32).fill(3)));
      reader.dispose();
      reader.dispose();
      expect(() => reader.refill(8)).toThrow(/used after dispose/);
      const a = KeystreamReader.open(crypto.keystream(new Uint8Array(32).fill(4)));
      const b = KeystreamReader.open(crypto.keystream(new Uint8Array(32).fill(5)));
      expect(a).not.toBe(b);
      a.dispose();
      b.dispose();
    });
  });
});
