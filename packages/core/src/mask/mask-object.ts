/**
 * The mask object (protocol.md §4.4): a masked (or mask, or aggregated)
 * vector of group elements plus one masked scalar, under one config.
 * Its wire codec lives in message/mask-object.ts.
 */

import { PetError } from '../errors.ts';
import { type MaskConfig, maskParams } from './config.ts';
import { type Elements, groupFor, packedByteLength } from './group.ts';
import { addPacked, addsPacked, subPacked } from './packed.ts';

export interface MaskObject {
  readonly config: MaskConfig;
  /** Number of model weights. */
  readonly length: number;
  /** `length` elements (see group.ts for the two layouts). */
  readonly vector: Elements;
  /** One element: the (masked) scalar. */
  readonly scalar: Elements;
  /**
   * The vector still packed as on the wire (protocol.md §3.6) and already checked, where the
   * object was read without unpacking it (`PackedMaskObject`): an aggregate adds it straight from
   * these bytes (`addPackedTo`) and an encoder copies them. Only together with `addPackedTo`
   * (`packedVector`): a spread copy (`{ ...object, vector }`) keeps this field but not the
   * prototype's method, and is an ordinary object whose `vector` counts.
   */
  readonly packed?: Uint8Array;
  /** acc ← acc + this vector (mod the order), straight from `packed` (a `PackedMaskObject`'s). */
  addPackedTo?(acc: Elements): void;
  /** acc ← acc − this vector (mod the order), straight from `packed` (a `PackedMaskObject`'s). */
  subPackedFrom?(acc: Elements): void;
}

/** The object's packed vector where it is a packed object (it has `addPackedTo`), else undefined. */
export function packedVector(object: MaskObject): Uint8Array | undefined {
  return object.addPackedTo === undefined ? undefined : object.packed;
}

/**
 * A mask object read without unpacking its vector (`readMaskObject` with `packed`; ADR 0018): the
 * coordinator adds a masked model to its aggregate from the packed bytes, so an update costs no
 * array of its unpacked elements (8 bytes a weight on the float path) in memory, and takes the
 * winning aggregated mask off the aggregate the same way when it unmasks. `vector` unpacks
 * on first use and keeps the result beside the packed bytes (a retraction, tests; nothing on the
 * coordinator's path reads it).
 *
 * Float path only. `packed` must have been checked as `Group.read` checks (every element below
 * the order, zero padding): `readMaskObject` does that without unpacking (mask/packed.ts); the
 * constructor checks only the config's path and the lengths (`invalid-field`).
 */
export class PackedMaskObject implements MaskObject {
  readonly config: MaskConfig;
  readonly length: number;
  readonly packed: Uint8Array;
  readonly scalar: Elements;
  #vector: Elements | undefined;

  constructor(config: MaskConfig, length: number, packed: Uint8Array, scalar: Elements) {
    const params = maskParams(config);
    if (!addsPacked(params)) {
      throw new PetError('invalid-field', `packed mask object: ${params.name} is not on the float path`);
    }
    const bytes = packedByteLength(params.elementBits, length);
    if (packed.length !== bytes || scalar.length !== 1) {
      throw new PetError(
        'invalid-field',
        `packed mask object: expected ${bytes} packed bytes for ${length} weights and one scalar element, ` +
          `got ${packed.length} bytes and ${scalar.length}`,
      );
    }
    this.config = config;
    this.length = length;
    this.packed = packed;
    this.scalar = scalar;
  }

  get vector(): Elements {
    this.#vector ??= groupFor(maskParams(this.config)).read(this.packed, 0, this.length, 'mask object.vector');
    return this.#vector;
  }

  addPackedTo(acc: Elements): void {
    addPacked(maskParams(this.config), acc, this.packed, 0, this.length);
  }

  subPackedFrom(acc: Elements): void {
    subPacked(maskParams(this.config), acc, this.packed, 0, this.length);
  }
}
