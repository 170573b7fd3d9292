import { describe, expect, it } from 'vitest';
import { ParticipantRestoreError } from './errors.ts';
import { crc32, decodeFramed, decodePlainData, encodeFramed, encodePlainData } from './plain-data.ts';

const SAMPLE = {
  v: 1,
  nothing: undefined,
  empty: null,
  yes: true,
  no: false,
  numbers: [0, -0, 1.5, -1e300, Number.MAX_SAFE_INTEGER, Number.NaN, Number.POSITIVE_INFINITY],
  text: 'héllo wörld — ✓ 𝄞',
  bytes: Uint8Array.of(0, 1, 254, 255),
  nested: { list: [{ a: 'b' }, [], {}], key: new Uint8Array(0) },
};

describe('plain data', () => {
  it('round-trips every supported kind of value, undefined fields and -0 included', () => {
    const decoded = decodePlainData(encodePlainData(SAMPLE)) as typeof SAMPLE;
    expect(decoded).toStrictEqual(SAMPLE);
    expect(Object.hasOwn(decoded, 'nothing')).toBe(true);
    expect(Object.is(decoded.numbers[1], -0)).toBe(true);
  });

  it('refuses what is not plain data, naming the path', () => {
    expect(() => encodePlainData({ a: [1, () => 1] })).toThrow('value.a[1]: not plain data');
    expect(() => encodePlainData({ when: new Date(0) })).toThrow('value.when: not plain data (an instance of Date)');
    expect(() => encodePlainData(new Float32Array(2))).toThrow(TypeError);
    expect(() => encodePlainData(1n)).toThrow(TypeError);
  });

  it('every truncation and every trailing byte is a ParticipantRestoreError', () => {
    const bytes = encodePlainData(SAMPLE);
    for (let n = 0; n < bytes.length; n++) {
      expect(() => decodePlainData(bytes.subarray(0, n))).toThrow(ParticipantRestoreError);
    }
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(() => decodePlainData(longer)).toThrow('1 trailing bytes');
  });

  it('refuses unknown tags, huge counts, deep nesting, invalid UTF-8 and __proto__ keys', () => {
    expect(() => decodePlainData(Uint8Array.of(9))).toThrow('unknown tag 9');
    expect(() => decodePlainData(Uint8Array.of(7, 0xff, 0xff, 0xff, 0xff))).toThrow('exceeds');
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    expect(() => encodePlainData(deep)).toThrow('nested deeper');
    const nested = new Uint8Array(80).fill(7);
    expect(() => decodePlainData(nested)).toThrow(ParticipantRestoreError);
    expect(() => decodePlainData(Uint8Array.of(5, 0, 0, 0, 2, 0xc0, 0x80))).toThrow('invalid UTF-8');
    const proto = Uint8Array.of(8, 0, 0, 0, 1, 0, 0, 0, 9, ...[...'__proto__'].map((c) => c.charCodeAt(0)), 1);
    expect(() => decodePlainData(proto)).toThrow("reserved key '__proto__'");
  });

  it('CRC-32 matches the standard check value', () => {
    expect(crc32(Uint8Array.from('123456789', (c) => c.charCodeAt(0)))).toBe(0xcbf43926);
    // Eight bytes a step, then the tail byte by byte: every length agrees with the bitwise definition.
    const bitwise = (bytes: Uint8Array) => {
      let c = 0xffffffff;
      for (const b of bytes) {
        c ^= b;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      }
      return (c ^ 0xffffffff) >>> 0;
    };
    for (let length = 0; length <= 40; length++) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 97 + length * 13) & 0xff);
      expect(crc32(bytes)).toBe(bitwise(bytes));
    }
  });

  it('frames: magic, format, length and checksum are all checked', () => {
    const framed = encodeFramed('TEST', SAMPLE);
    expect(decodeFramed('TEST', framed, 'thing')).toStrictEqual(SAMPLE);
    expect(() => decodeFramed('XXXX', framed, 'thing')).toThrow("not a petfl thing (expected the magic 'XXXX')");
    expect(() => decodeFramed('TEST', 'nope', 'thing')).toThrow('expected a Uint8Array');
    const future = framed.slice();
    future[4] = 2;
    expect(() => decodeFramed('TEST', future, 'thing')).toThrow('written by a newer SDK');
    const flipped = framed.slice();
    flipped[framed.length - 3] = (flipped[framed.length - 3] as number) ^ 1;
    expect(() => decodeFramed('TEST', flipped, 'thing')).toThrow('checksum mismatch');
    expect(() => decodeFramed('TEST', framed.subarray(0, framed.length - 1), 'thing')).toThrow('payload bytes');
  });
});
