/**
 * Integer noise filled into vectors.
 *
 * A participant adds one independent noise integer to every coordinate of its fixed-point
 * encoded update (protocol.md §4.3) before masking. `sampleVector` draws n of them;
 * `addNoise` adds them to a vector of integers in place. Both draw coordinates in index order,
 * so a seeded source gives the same vector everywhere.
 */

import { PetError } from '../../errors.ts';

/** Independent draws of one integer distribution. */
export interface IntegerSampler {
  /** One draw: a safe integer. */
  sample(): number;
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

function checkLength(length: number): void {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new PetError('out-of-range', `noise vector length: expected an integer ≥ 0, got ${length}`);
  }
}

/** `length` draws as doubles (exact: every draw is a safe integer). */
export function sampleVector(sampler: IntegerSampler, length: number, type?: 'float64'): Float64Array;
/** `length` draws as 32-bit integers; a draw outside the int32 range throws 'out-of-range'. */
export function sampleVector(sampler: IntegerSampler, length: number, type: 'int32'): Int32Array;
export function sampleVector(
  sampler: IntegerSampler,
  length: number,
  type: 'float64' | 'int32' = 'float64',
): Float64Array | Int32Array {
  checkLength(length);
  if (type === 'float64') {
    const out = new Float64Array(length);
    for (let i = 0; i < length; i++) out[i] = sampler.sample();
    return out;
  }
  const out = new Int32Array(length);
  for (let i = 0; i < length; i++) {
    const x = sampler.sample();
    if (x < INT32_MIN || x > INT32_MAX) {
      out.fill(0); // SECURITY: noise drawn so far is secret; nothing half-filled leaves here
      throw new PetError('out-of-range', `noise vector[${i}]: expected an int32, got ${x}`);
    }
    out[i] = x;
  }
  return out;
}

/**
 * Adds one draw to every element of `target` in place. Elements of a Float64Array must be
 * integers and stay safe integers, those of an Int32Array stay int32; otherwise nothing is
 * changed and 'invalid-model-value' names the first element that is not an integer, or
 * 'out-of-range' the first that would overflow. The noise is drawn in full before `target` is
 * touched, then wiped.
 */
export function addNoise(target: Int32Array | Float64Array, sampler: IntegerSampler): void {
  const isFloat = target instanceof Float64Array;
  if (isFloat) {
    for (let i = 0; i < target.length; i++) {
      const v = target[i] as number;
      if (!Number.isSafeInteger(v)) {
        throw new PetError('invalid-model-value', `noise target[${i}]: expected a safe integer, got ${v}`);
      }
    }
  }
  // SECURITY: the noise decides this participant's privacy; wiped once added.
  const noise = sampleVector(sampler, target.length);
  try {
    const min = isFloat ? Number.MIN_SAFE_INTEGER : INT32_MIN;
    const max = isFloat ? Number.MAX_SAFE_INTEGER : INT32_MAX;
    for (let i = 0; i < target.length; i++) {
      const sum = (target[i] as number) + (noise[i] as number);
      if (sum < min || sum > max) {
        throw new PetError(
          'out-of-range',
          `noise target[${i}]: ${target[i]} + noise leaves the ${isFloat ? 'safe integers' : 'int32 range'}`,
        );
      }
    }
    for (let i = 0; i < target.length; i++) target[i] = (target[i] as number) + (noise[i] as number);
  } finally {
    noise.fill(0);
  }
}
