/**
 * The Update payload (protocol.md §3.4).
 *
 * An update participant proves its eligibility (the sum signature shows it is
 * not a sum participant, the update signature that it is an update one), and
 * sends its masked model and its local seed dictionary. The masked model is
 * self-delimiting (its count field), so the dictionary follows it directly.
 *
 * ```text
 *   0                    64                   128
 *   +--------------------+--------------------+---------------------------+-------------------------+
 *   | sumSignature (64)  | updateSignature(64)| masked model              | local seed dictionary   |
 *   |                    |                    | (mask object, §3.6)       | (§3.8)                  |
 *   +--------------------+--------------------+---------------------------+-------------------------+
 * ```
 */

import { ByteReader, ByteWriter, expectLength } from '../bytes.ts';
import { SIGNATURE_BYTES } from '../crypto/sodium.ts';
import type { MaskConfig } from '../mask/config.ts';
import type { MaskObject } from '../mask/mask-object.ts';
import type { Masker } from '../mask/masker.ts';
import {
  type LocalSeedDict,
  localSeedDictByteLength,
  readLocalSeedDict,
  writeLocalSeedDict,
} from './local-seed-dict.ts';
import {
  type MaskObjectExpectation,
  maskObjectByteLength,
  readMaskObject,
  writeMaskObject,
  writePackedMaskObject,
} from './mask-object.ts';

export interface Update {
  /** Ed25519 over `roundSeed ‖ "sum"`: shows the participant is not eligible for sum. */
  readonly sumSignature: Uint8Array;
  /** Ed25519 over `roundSeed ‖ "update"`: shows it is eligible for update. */
  readonly updateSignature: Uint8Array;
  readonly maskedModel: MaskObject;
  readonly localSeedDict: LocalSeedDict;
}

export function updateByteLength(update: Update): number {
  return byteLength(update, update.maskedModel.config, update.maskedModel.length);
}

export function encodeUpdate(update: Update): Uint8Array {
  const writer = new ByteWriter(updateByteLength(update));
  writeUpdate(writer, update);
  return writer.done();
}

/** Writes the update payload's `updateByteLength(update)` bytes. */
export function writeUpdate(writer: ByteWriter, update: Update): void {
  writeFields(writer, update, () => writeMaskObject(writer, update.maskedModel, MASKED_MODEL_FIELD));
}

/** An update payload's fields besides its masked model. */
export type UpdateFields = Omit<Update, 'maskedModel'>;

/**
 * Encodes an update payload with `model` masked into it as it is written (`Masker.maskPacked`
 * under `seed`): the bytes `encodeUpdate` gives for the masked model of
 * `masker.mask(model, scalar, seed)`, without that masked model ever existing as an element array
 * of the whole model. `seed` is the fresh mask seed the caller drew and sealed into
 * `fields.localSeedDict`; the caller wipes it.
 */
export function encodeMaskedUpdate(
  masker: Masker,
  fields: UpdateFields,
  model: ArrayLike<number>,
  scalar: number,
  seed: Uint8Array,
): Uint8Array {
  const writer = new ByteWriter(byteLength(fields, masker.config, model.length));
  writeFields(writer, fields, () =>
    writePackedMaskObject(
      writer,
      masker.config,
      model.length,
      (bytes, offset) => masker.maskPacked(model, scalar, seed, bytes, offset),
      MASKED_MODEL_FIELD,
    ),
  );
  return writer.done();
}

const MASKED_MODEL_FIELD = 'update payload.maskedModel';

function byteLength(fields: UpdateFields, config: MaskConfig, length: number): number {
  return 2 * SIGNATURE_BYTES + maskObjectByteLength(config, length) + localSeedDictByteLength(fields.localSeedDict);
}

/** The payload's fields in order, the masked model written by `writeMaskedModel`. */
function writeFields(writer: ByteWriter, fields: UpdateFields, writeMaskedModel: () => void): void {
  writer
    .put(expectLength(fields.sumSignature, SIGNATURE_BYTES, 'update payload.sumSignature'))
    .put(expectLength(fields.updateSignature, SIGNATURE_BYTES, 'update payload.updateSignature'));
  writeMaskedModel();
  writeLocalSeedDict(writer, fields.localSeedDict, 'update payload.localSeedDict');
}

/** Decodes an update payload; `expect` is the round's mask config and model length. */
export function decodeUpdate(bytes: Uint8Array, expect?: MaskObjectExpectation): Update {
  const reader = new ByteReader(bytes, 'update payload');
  const sumSignature = reader.copy(SIGNATURE_BYTES, 'sumSignature');
  const updateSignature = reader.copy(SIGNATURE_BYTES, 'updateSignature');
  const maskedModel = readMaskObject(reader, 'maskedModel', expect);
  const localSeedDict = readLocalSeedDict(reader, 'localSeedDict');
  reader.finish();
  return { sumSignature, updateSignature, maskedModel, localSeedDict };
}
