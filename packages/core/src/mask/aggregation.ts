/**
 * Aggregation of mask objects (protocol.md §4.4–4.5).
 *
 * The coordinator adds every accepted masked model into one running
 * aggregate (memory O(model), never O(participants × model)); a sum
 * participant adds the masks it derives the same way. Validate, then act:
 * `validateAggregation` returns why an object cannot be added and
 * `aggregate` then just adds; `validateUnmasking` and `unmask` likewise.
 */

import { expectLength } from '../bytes.ts';
import { type PetCrypto, SEED_BYTES } from '../crypto/sodium.ts';
import { PetError } from '../errors.ts';
import { configName, type MaskConfig, type MaskParams, maskParams, sameConfig } from './config.ts';
import { type Elements, type Group, groupFor, packedByteLength } from './group.ts';
import { type MaskObject, packedVector } from './mask-object.ts';
import { KeystreamReader } from './sampling.ts';

/** Elements a derived mask is drawn in at a time (`aggregateDerived`): 512 KiB on the float path. */
const DERIVE_BLOCK = 64 * 1024;

/** The scalar range every honest participant keeps to (the coordinator's setting). */
export interface AggregateBounds {
  readonly scalarMin: number;
  readonly scalarMax: number;
}

export class Aggregation {
  private readonly params: MaskParams;
  private readonly group: Group;
  private readonly vector: Elements;
  private readonly scalar: Elements;
  private count = 0;

  readonly config: MaskConfig;
  readonly length: number;

  constructor(config: MaskConfig, length: number) {
    this.config = config;
    this.length = length;
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new PetError('invalid-field', `aggregation length: expected a non-negative integer, got ${length}`);
    }
    this.params = maskParams(config);
    this.group = groupFor(this.params);
    this.vector = this.group.alloc(length);
    this.scalar = this.group.alloc(1);
  }

  /** Number of objects added so far. */
  get modelCount(): number {
    return this.count;
  }

  /** Why `object` cannot be added, or undefined when it can. */
  validateAggregation(object: MaskObject): PetError | undefined {
    const mismatch = this.checkShape(object, 'masked model');
    if (mismatch) return mismatch;
    if (BigInt(this.count) + 1n > this.params.modelCap) {
      return new PetError(
        'too-many-models',
        `aggregation: expected at most ${this.params.modelCap} models for ${this.params.name}, got one more`,
      );
    }
    return undefined;
  }

  /** Adds a validated object (call `validateAggregation` first). */
  aggregate(object: MaskObject): void {
    // A packed vector (PackedMaskObject, ADR 0018) is added from its bytes.
    if (packedVector(object) !== undefined) {
      object.addPackedTo?.(this.vector);
    } else {
      this.group.addInto(this.vector, object.vector);
    }
    this.group.addInto(this.scalar, object.scalar);
    this.count += 1;
  }

  /**
   * Derives the mask of `seed` (protocol.md §5.2–5.3) and adds it: exactly
   * `aggregate(deriveMask(crypto, config, seed, length))`, each element drawn and added in one
   * pass (`Group.drawAdd`; groups without it go a block at a time through one scratch array), so
   * a sum participant adding hundreds of masks never allocates a whole mask. Throws
   * `too-many-models` past the config's model cap; nothing changes then. A libsodium failure
   * midway (`crypto-failed`) leaves the aggregate half-added: drop it. The caller keeps (and
   * wipes) `seed`.
   */
  aggregateDerived(crypto: PetCrypto, seed: Uint8Array): void {
    expectLength(seed, SEED_BYTES, 'mask seed');
    if (BigInt(this.count) + 1n > this.params.modelCap) {
      throw new PetError(
        'too-many-models',
        `aggregation: expected at most ${this.params.modelCap} models for ${this.params.name}, got one more`,
      );
    }
    const { group, length } = this;
    const stride = group.stride;
    const reader = KeystreamReader.open(crypto.keystream(seed), (1 + length) * this.params.bytesPerNumber);
    try {
      const one = group.alloc(1);
      group.draw(reader, one, 0, 1); // the scalar's mask comes first, as in deriveMask
      group.addInto(this.scalar, one);
      if (group.drawAdd !== undefined) {
        // Derived and added in one pass: no block is written and read back.
        group.drawAdd(reader, this.vector, 0, length);
      } else {
        const scratch = group.alloc(Math.min(DERIVE_BLOCK, Math.max(1, length)));
        for (let at = 0; at < length; at += DERIVE_BLOCK) {
          const n = Math.min(DERIVE_BLOCK, length - at);
          const block = scratch.subarray(0, n * stride);
          group.draw(reader, block, 0, n);
          group.addInto(this.vector.subarray(at * stride, (at + n) * stride), block);
        }
      }
    } finally {
      reader.dispose();
    }
    this.count += 1;
  }

  /**
   * Adds another aggregate of the same shape: its `modelCount` objects count as added here
   * (aggregation is associative, so partial aggregates of several coordinator instances combine
   * exactly). Throws `too-many-models` past the config's model cap, and the shape errors of
   * `validateAggregation`; nothing changes then.
   */
  merge(other: Aggregation): void {
    const mismatch = this.checkShape(other.toMaskObject(), 'merged aggregate');
    if (mismatch) throw mismatch;
    if (BigInt(this.count) + BigInt(other.count) > this.params.modelCap) {
      throw new PetError(
        'too-many-models',
        `aggregation: expected at most ${this.params.modelCap} models for ${this.params.name}, got ${this.count + other.count}`,
      );
    }
    this.group.addInto(this.vector, other.vector);
    this.group.addInto(this.scalar, other.scalar);
    this.count += other.count;
  }

  /**
   * Takes back the object last added with `aggregate` (exact: group subtraction undoes group
   * addition), e.g. when the coordinator's store refused to commit the update it came with.
   */
  retract(object: MaskObject): void {
    if (this.count === 0) throw new PetError('empty-aggregation', 'retract: no masked model was aggregated');
    this.group.subInto(this.vector, object.vector);
    this.group.subInto(this.scalar, object.scalar);
    this.count -= 1;
  }

  /** Why `mask` cannot unmask this aggregate, or undefined when it can. */
  validateUnmasking(mask: MaskObject): PetError | undefined {
    if (this.count === 0) return new PetError('empty-aggregation', 'unmask: no masked model was aggregated');
    return this.checkShape(mask, 'mask');
  }

  /**
   * Subtracts the aggregated mask and decodes the scalar-weighted average Σ sᵢwᵢ / Σ sᵢ
   * (protocol.md §4.5). Throws `zero-scalar-sum` when Σ sᵢ = 0 and `empty-aggregation` when
   * nothing was aggregated (the decode would otherwise return garbage). The aggregate is unchanged.
   */
  unmask(mask: MaskObject): Float64Array {
    if (this.count === 0) throw new PetError('empty-aggregation', 'unmask: no masked model was aggregated');
    const { vector, scalar } = this.minus(mask);
    return this.group.decode(vector, scalar, this.count);
  }

  /**
   * `unmask`, then checks that the result is one that `modelCount` honest participants can produce
   * (protocol.md §4.5): each clamps s·w to [−A, U], so every unmasked element sum lies in
   * [0, n·(A+U)·E], and each scalar lies in [scalarMin, scalarMax], so Σ sᵢ lies in
   * [n·scalarMin, n·scalarMax] (within the fixed-point precision n/E). Anything else means a
   * participant sent an encoding no clamped model gives (or a wrong mask won): throws
   * `aggregate-out-of-range` naming the first offending element, and the model is not released.
   */
  unmaskChecked(mask: MaskObject, bounds: AggregateBounds): Float64Array {
    if (this.count === 0) throw new PetError('empty-aggregation', 'unmask: no masked model was aggregated');
    const { vector, scalar } = this.minus(mask);
    const { addShift: a, upperBound: u, expShift: e } = this.params;
    const n = BigInt(this.count);
    const above = this.group.firstAbove(vector, n * (a + u) * e);
    if (above >= 0) {
      const sum = Number(this.group.toBigInt(vector, above) - n * a * e) / Number(e);
      throw new PetError(
        'aggregate-out-of-range',
        `unmask: weight ${above} of the aggregate, Σ sᵢwᵢ = ${sum.toPrecision(6)}, exceeds ${this.count}·${u} = ` +
          `the most ${this.count} participants clamping s·w to ±${a} can produce`,
      );
    }
    const scalarSum = Number(this.group.toBigInt(scalar, 0) - n * a * e) / Number(e);
    const count = this.count;
    const slack = count / Number(e) + 1e-12 * count * Math.max(bounds.scalarMax, 1);
    if (!(scalarSum >= count * bounds.scalarMin - slack && scalarSum <= count * bounds.scalarMax + slack)) {
      throw new PetError(
        'aggregate-out-of-range',
        `unmask: the scalar sum Σ sᵢ = ${scalarSum.toPrecision(6)} of ${count} participants is outside ` +
          `[${count}·${bounds.scalarMin}, ${count}·${bounds.scalarMax}]: some scalar lies outside the allowed range`,
      );
    }
    return this.group.decode(vector, scalar, this.count);
  }

  /**
   * Copies of the aggregate's vector and scalar with `mask` subtracted; a packed mask
   * (`PackedMaskObject`, ADR 0018) straight from its bytes, with no array of its elements.
   */
  private minus(mask: MaskObject): { vector: Elements; scalar: Elements } {
    const vector = this.vector.slice();
    const scalar = this.scalar.slice();
    if (packedVector(mask) !== undefined && mask.subPackedFrom !== undefined) mask.subPackedFrom(vector);
    else this.group.subInto(vector, mask.vector);
    this.group.subInto(scalar, mask.scalar);
    return { vector, scalar };
  }

  /** The aggregate as a mask object (a sum participant's aggregated mask, or for persistence). */
  toMaskObject(): MaskObject {
    return { config: this.config, length: this.length, vector: this.vector.slice(), scalar: this.scalar.slice() };
  }

  /** Restores an aggregate of `modelCount` objects (e.g. from a persistent store). */
  static restore(object: MaskObject, modelCount: number): Aggregation {
    const aggregation = new Aggregation(object.config, object.length);
    if (!Number.isSafeInteger(modelCount) || modelCount < 0 || BigInt(modelCount) > aggregation.params.modelCap) {
      throw new PetError(
        'out-of-range',
        `aggregation model count: expected 0..${aggregation.params.modelCap}, got ${modelCount}`,
      );
    }
    const shape = aggregation.checkShape(object, 'restored aggregate');
    if (shape) throw shape;
    aggregation.vector.set(object.vector);
    aggregation.scalar.set(object.scalar);
    aggregation.count = modelCount;
    return aggregation;
  }

  private checkShape(object: MaskObject, what: string): PetError | undefined {
    if (!sameConfig(object.config, this.config)) {
      return new PetError(
        'config-mismatch',
        `${what}: expected mask config ${configName(this.config)}, got ${configName(object.config)}`,
      );
    }
    // A packed vector is checked by its byte length, so that the check does not unpack it.
    const packed = packedVector(object);
    const vectorFits =
      packed === undefined
        ? object.vector.length === this.vector.length
        : packed.length === packedByteLength(this.params.elementBits, this.length);
    if (object.length !== this.length || !vectorFits) {
      return new PetError('model-length-mismatch', `${what}: expected ${this.length} weights, got ${object.length}`);
    }
    if (object.scalar.length !== this.scalar.length) {
      return new PetError('invalid-field', `${what}: malformed scalar element`);
    }
    return undefined;
  }
}
