/**
 * The mask object codec (protocol.md §3.6; the object itself is §4.4; ADR 0010).
 *
 * A masked model, an aggregated mask, or any vector of group elements plus
 * one scalar element, under one mask config. Elements are packed at
 * w = elementBits = bitLength(order − 1) bits each: the vector of n elements is
 * the little-endian integer Σ vᵢ·2^(i·w) in ceil(n·w / 8) bytes, so element i
 * occupies bits i·w .. i·w + w − 1, bit j being bit (j mod 8) of byte ⌊j / 8⌋;
 * the padding bits after the last element (fewer than 8) are zero. The scalar
 * is packed the same way as a vector of one, in ceil(w / 8) bytes. Every element
 * must be below the group order. The config is repeated before the scalar
 * (the vector and the scalar are two mask objects in xaynet); both copies
 * must agree. The encoding is self-delimiting, so it can be followed by more
 * fields (the update payload's local seed dictionary).
 *
 * ```text
 *   0        4           8                       8 + V
 *   +--------+-----------+-----------------------+--------+--------------+
 *   | config | count u32 | count elements packed | config | scalar       |
 *   |  (4)   |    BE     | at w bits (LE), V     |  (4)   | packed, S    |
 *   +--------+-----------+-----------------------+--------+--------------+
 *   config = group u8 ‖ data u8 ‖ bound u8 ‖ model u8
 *   V = ceil(count · w / 8)     S = ceil(w / 8)     w = elementBits
 * ```
 */

import { ByteReader, ByteWriter } from '../bytes.ts';
import { PetError } from '../errors.ts';
import {
  configName,
  encodeMaskConfig,
  MASK_CONFIG_BYTES,
  type MaskConfig,
  maskParams,
  readMaskConfig,
  sameConfig,
} from '../mask/config.ts';
import { type Elements, groupFor, packedByteLength } from '../mask/group.ts';
import { type MaskObject, PackedMaskObject, packedVector } from '../mask/mask-object.ts';
import { addsPacked, checkPacked } from '../mask/packed.ts';

/** What a reader checks a mask object against before allocating anything. */
export interface MaskObjectExpectation {
  /** The round's mask config ('config-mismatch' otherwise). */
  readonly config?: MaskConfig;
  /** The round's model length ('model-length-mismatch' otherwise). */
  readonly length?: number;
  /**
   * Keep the vector packed (a `PackedMaskObject` whose `packed` is a view into the bytes read,
   * checked but not unpacked) where the config's group can add packed vectors; ADR 0018. The
   * caller then keeps those bytes unchanged for as long as it keeps the object.
   */
  readonly packed?: boolean;
}

const MAX_COUNT = 0xffff_ffff;

/** Encoded size of a mask object of `length` weights under `config`. */
export function maskObjectByteLength(config: MaskConfig, length: number): number {
  const bits = maskParams(config).elementBits;
  return MASK_CONFIG_BYTES + 4 + packedByteLength(bits, length) + MASK_CONFIG_BYTES + packedByteLength(bits, 1);
}

export function writeMaskObject(writer: ByteWriter, object: MaskObject, field = 'mask object'): void {
  const group = groupFor(maskParams(object.config));
  const { length } = object;
  writePackedMaskObject(
    writer,
    object.config,
    length,
    (bytes, offset) => {
      const packed = packedVector(object);
      if (packed !== undefined) {
        // Checked when it was read, and packed as this writes it: copied as it is.
        const expected = packedByteLength(group.params.elementBits, length);
        if (packed.length !== expected) {
          throw new PetError(
            'invalid-field',
            `${field}.vector: expected ${expected} packed bytes for ${length} weights, got ${packed.length}`,
          );
        }
        bytes.set(packed, offset);
        return object.scalar;
      }
      if (object.vector.length !== length * group.stride) {
        throw new PetError(
          'invalid-field',
          `${field}.vector: expected ${length * group.stride} array slots for ${length} weights, got ${object.vector.length}`,
        );
      }
      group.write(object.vector, length, bytes, offset);
      return object.scalar;
    },
    field,
  );
}

/**
 * Writes a mask object of `length` weights whose vector `packVector` packs straight into the
 * writer's buffer at the offset it is given (`packedByteLength(elementBits, length)` bytes), and
 * whose scalar element it returns: `Masker.maskPacked` masks a model into its encoding this way,
 * without an element array of the whole model.
 */
export function writePackedMaskObject(
  writer: ByteWriter,
  config: MaskConfig,
  length: number,
  packVector: (bytes: Uint8Array, offset: number) => Elements,
  field = 'mask object',
): void {
  const params = maskParams(config);
  const group = groupFor(params);
  if (!Number.isSafeInteger(length) || length < 0 || length > MAX_COUNT) {
    throw new PetError('oversized', `${field}.count: expected 0..${MAX_COUNT} weights, got ${length}`);
  }
  const encodedConfig = encodeMaskConfig(config);
  const bits = params.elementBits;
  writer.put(encodedConfig).u32(length);
  const scalar = packVector(writer.bytes, writer.position);
  if (scalar.length !== group.stride) {
    throw new PetError('invalid-field', `${field}.scalar: expected ${group.stride} array slots, got ${scalar.length}`);
  }
  writer.skip(packedByteLength(bits, length)).put(encodedConfig);
  group.write(scalar, 1, writer.bytes, writer.position);
  writer.skip(packedByteLength(bits, 1));
}

export function encodeMaskObject(object: MaskObject): Uint8Array {
  const writer = new ByteWriter(maskObjectByteLength(object.config, object.length));
  writeMaskObject(writer, object);
  return writer.done();
}

/**
 * Reads one mask object. With `expect`, a foreign config or model length is
 * rejected before the vector is allocated; the vector's bytes are checked to
 * be present before it is allocated, so a forged count costs nothing.
 */
export function readMaskObject(reader: ByteReader, field: string, expect: MaskObjectExpectation = {}): MaskObject {
  const at = field === '' ? '' : `${field}.`;
  const name = `${reader.context}${field === '' ? '' : `.${field}`}`;
  const config = readMaskConfig(reader, `${at}config`);
  if (expect.config !== undefined && !sameConfig(config, expect.config)) {
    throw new PetError(
      'config-mismatch',
      `${name}.config: expected mask config ${configName(expect.config)}, got ${configName(config)}`,
    );
  }
  const length = reader.u32(`${at}count`);
  if (expect.length !== undefined && length !== expect.length) {
    throw new PetError('model-length-mismatch', `${name}.count: expected ${expect.length} weights, got ${length}`);
  }
  const params = maskParams(config);
  const group = groupFor(params);
  const bits = params.elementBits;
  // take() throws 'truncated' before group.read allocates the vector.
  const vectorBytes = reader.take(packedByteLength(bits, length), `${at}vector`);
  const keepPacked = expect.packed === true && addsPacked(params);
  if (keepPacked) checkPacked(params, vectorBytes, 0, length, `${name}.vector`);
  const vector = keepPacked ? undefined : group.read(vectorBytes, 0, length, `${name}.vector`);
  const scalarConfig = readMaskConfig(reader, `${at}scalarConfig`);
  if (!sameConfig(scalarConfig, config)) {
    throw new PetError(
      'config-mismatch',
      `${name}.scalarConfig: expected mask config ${configName(config)} (as the vector), got ${configName(scalarConfig)}`,
    );
  }
  const scalar = group.read(reader.take(packedByteLength(bits, 1), `${at}scalar`), 0, 1, `${name}.scalar`);
  return vector === undefined
    ? new PackedMaskObject(config, length, vectorBytes, scalar)
    : { config, length, vector, scalar };
}

export function decodeMaskObject(bytes: Uint8Array, expect?: MaskObjectExpectation): MaskObject {
  const reader = new ByteReader(bytes, 'mask object');
  const object = readMaskObject(reader, '', expect);
  reader.finish();
  return object;
}
