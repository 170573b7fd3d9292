import { describe, expect, it } from 'vitest';
import { errorCode, toHex } from '../testing/message-fixtures.ts';
import { decodeGlobalModel, encodeGlobalModel, GLOBAL_MODEL_HEADER_BYTES } from './global-model.ts';

const f32 = { roundId: 7, model: Float32Array.of(1.5, -2, 0.25) };
const f64 = { roundId: 0x0102_0304, model: Float64Array.of(0.1, -1e300) };

describe('global model (protocol.md §3.10)', () => {
  it('encodes the golden vectors and decodes them back', () => {
    const a = encodeGlobalModel(f32);
    expect(toHex(a)).toBe(
      [
        '00000007', // roundId
        '00', // data type: f32
        '000000', // reserved
        '00000003', // count
        '0000c03f', // 1.5 (little-endian)
        '000000c0', // -2
        '0000803e', // 0.25
      ].join(''),
    );
    expect(decodeGlobalModel(a)).toStrictEqual(f32);
    const b = encodeGlobalModel(f64);
    expect(toHex(b)).toBe(
      [
        '01020304', // roundId
        '01', // data type: f64
        '000000', // reserved
        '00000002', // count
        '9a9999999999b93f', // 0.1
        '9c7500883ce437fe', // -1e300
      ].join(''),
    );
    expect(decodeGlobalModel(b)).toStrictEqual(f64);
    expect(decodeGlobalModel(encodeGlobalModel({ roundId: 0, model: new Float32Array(0) }))).toStrictEqual({
      roundId: 0,
      model: new Float32Array(0),
    });
  });

  it('with `view`: the values are a view into the bytes where they lie aligned, else a copy', () => {
    const a = encodeGlobalModel(f32);
    const viewed = decodeGlobalModel(a, { view: true });
    expect(viewed).toStrictEqual(f32);
    expect(viewed.model.buffer).toBe(a.buffer);
    expect(viewed.model.byteOffset).toBe(a.byteOffset + GLOBAL_MODEL_HEADER_BYTES);
    a[GLOBAL_MODEL_HEADER_BYTES + 3] = 0x40; // the first value's top byte: 0x3fc00000 (1.5) → 0x40c00000 (6)
    expect(viewed.model[0]).toBe(6);
    // Without the option, a copy: the bytes can change and the model stays.
    const copied = decodeGlobalModel(a);
    expect(copied.model.buffer).not.toBe(a.buffer);
    a[GLOBAL_MODEL_HEADER_BYTES + 3] = 0x3f;
    expect(copied.model[0]).toBe(6);

    // f64 values 12 bytes into the body are not 8-aligned: copied, equal.
    const b = encodeGlobalModel(f64);
    const unaligned = decodeGlobalModel(b, { view: true });
    expect(unaligned).toStrictEqual(f64);
    expect(unaligned.model.buffer).not.toBe(b.buffer);
    // The same bytes 4 further in are: a view.
    const shifted = new Uint8Array(b.length + 4);
    shifted.set(b, 4);
    const aligned = decodeGlobalModel(shifted.subarray(4), { view: true });
    expect(aligned).toStrictEqual(f64);
    expect(aligned.model.buffer).toBe(shifted.buffer);
    // f32 values at an odd offset: a copy.
    const odd = new Uint8Array(a.length + 1);
    odd.set(a, 1);
    const fromOdd = decodeGlobalModel(odd.subarray(1), { view: true });
    expect(fromOdd).toStrictEqual(f32);
    expect(fromOdd.model.buffer).not.toBe(odd.buffer);
  });

  it('rejects every truncation, a trailing byte, unknown types and nonzero reserved bytes', () => {
    for (const model of [f32, f64]) {
      const bytes = encodeGlobalModel(model);
      for (let n = 0; n < bytes.length; n++) {
        expect(errorCode(() => decodeGlobalModel(bytes.subarray(0, n)))).toBe('truncated');
      }
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      expect(errorCode(() => decodeGlobalModel(longer))).toBe('trailing-bytes');
    }
    const bytes = encodeGlobalModel(f32);
    const type = bytes.slice();
    type[4] = 2;
    expect(errorCode(() => decodeGlobalModel(type))).toBe('invalid-field');
    const reserved = bytes.slice();
    reserved[7] = 1;
    expect(errorCode(() => decodeGlobalModel(reserved))).toBe('reserved-nonzero');
    const forged = new Uint8Array(GLOBAL_MODEL_HEADER_BYTES);
    new DataView(forged.buffer).setUint32(8, 0xffff_ffff);
    expect(errorCode(() => decodeGlobalModel(forged))).toBe('truncated');
  });

  it('refuses round ids that do not fit a u32', () => {
    expect(errorCode(() => encodeGlobalModel({ roundId: 2 ** 32, model: new Float32Array(1) }))).toBe('out-of-range');
    expect(errorCode(() => encodeGlobalModel({ roundId: -1, model: new Float32Array(1) }))).toBe('out-of-range');
  });
});
