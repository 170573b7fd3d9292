/**
 * The global model (protocol.md §3.10): the body of `GET /model`, the
 * unmasked weighted average of a round, tagged with the round it came from.
 * Values are little-endian IEEE 754, single or double precision.
 *
 * ```text
 *   0              4         5          8             12
 *   +--------------+---------+----------+-------------+------------------------------+
 *   | roundId u32  | data    | 0 0 0    | count u32   | count × value (LE, 4 or 8 B) |
 *   |     BE       | type u8 | reserved |     BE      |                              |
 *   +--------------+---------+----------+-------------+------------------------------+
 *   data type: 0 = f32, 1 = f64
 * ```
 */

import { ByteReader, ByteWriter } from '../bytes.ts';
import { PetError } from '../errors.ts';

export const GLOBAL_MODEL_HEADER_BYTES = 12;
/** Wire literals of the value type. */
export const GLOBAL_MODEL_DATA_TYPES = { f32: 0, f64: 1 } as const;

export interface GlobalModel {
  readonly roundId: number;
  readonly model: Float32Array | Float64Array;
}

const MAX_U32 = 0xffff_ffff;
/** On a little-endian platform (every one petfl runs on) the values are copied as bytes, not one by one. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function encodeGlobalModel(global: GlobalModel): Uint8Array {
  const { roundId, model } = global;
  if (!Number.isInteger(roundId) || roundId < 0 || roundId > MAX_U32) {
    throw new PetError('out-of-range', `global model.roundId: expected an integer in 0..${MAX_U32}, got ${roundId}`);
  }
  if (model.length > MAX_U32) {
    throw new PetError('oversized', `global model.count: expected at most ${MAX_U32} values, got ${model.length}`);
  }
  const f64 = model instanceof Float64Array;
  const size = f64 ? 8 : 4;
  const writer = new ByteWriter(GLOBAL_MODEL_HEADER_BYTES + model.length * size)
    .u32(roundId)
    .u8(f64 ? GLOBAL_MODEL_DATA_TYPES.f64 : GLOBAL_MODEL_DATA_TYPES.f32)
    .skip(3) // reserved, zero
    .u32(model.length);
  if (LITTLE_ENDIAN) {
    writer.bytes.set(new Uint8Array(model.buffer, model.byteOffset, model.byteLength), GLOBAL_MODEL_HEADER_BYTES);
  } else {
    const view = new DataView(writer.bytes.buffer, GLOBAL_MODEL_HEADER_BYTES);
    for (let i = 0; i < model.length; i++) {
      if (f64) view.setFloat64(i * 8, model[i] as number, true);
      else view.setFloat32(i * 4, model[i] as number, true);
    }
  }
  return writer.skip(model.length * size).done();
}

export interface DecodeGlobalModelOptions {
  /**
   * The model's values may be a view into `bytes` instead of a copy: where the platform is
   * little-endian and they lie aligned in an ArrayBuffer (f32 values do in a body read at offset 0).
   * For a caller that owns `bytes` and never changes them.
   */
  readonly view?: boolean;
}

export function decodeGlobalModel(bytes: Uint8Array, options: DecodeGlobalModelOptions = {}): GlobalModel {
  const reader = new ByteReader(bytes, 'global model');
  const roundId = reader.u32('roundId');
  const dataType = reader.u8('dataType');
  if (dataType !== GLOBAL_MODEL_DATA_TYPES.f32 && dataType !== GLOBAL_MODEL_DATA_TYPES.f64) {
    throw new PetError('invalid-field', `global model.dataType: expected 0 (f32) or 1 (f64), got ${dataType}`);
  }
  reader.zeros(3, 'reserved');
  const count = reader.u32('count');
  const f64 = dataType === GLOBAL_MODEL_DATA_TYPES.f64;
  const size = f64 ? 8 : 4;
  const values = reader.take(count * size, 'values');
  reader.finish();
  const aligned = (values.byteOffset & (size - 1)) === 0;
  if (options.view === true && LITTLE_ENDIAN && aligned && values.buffer instanceof ArrayBuffer) {
    const model = f64
      ? new Float64Array(values.buffer, values.byteOffset, count)
      : new Float32Array(values.buffer, values.byteOffset, count);
    return { roundId, model };
  }
  const model = f64 ? new Float64Array(count) : new Float32Array(count);
  if (LITTLE_ENDIAN) {
    new Uint8Array(model.buffer).set(values);
  } else {
    const view = new DataView(values.buffer, values.byteOffset, values.byteLength);
    for (let i = 0; i < count; i++) model[i] = f64 ? view.getFloat64(i * 8, true) : view.getFloat32(i * 4, true);
  }
  return { roundId, model };
}
