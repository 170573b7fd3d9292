import { describe, expect, it } from 'vitest';
import { PetError } from '../../errors.ts';
import { addNoise, type IntegerSampler, sampleVector } from './integer-sampler.ts';

/** Replays `values` in order (a test adapter for the port). */
function replay(values: readonly number[]): IntegerSampler {
  let i = 0;
  return { sample: () => values[i++ % values.length] as number };
}

describe('sampleVector', () => {
  it('draws in index order, as doubles or int32', () => {
    expect([...sampleVector(replay([3, -1, 7]), 4)]).toEqual([3, -1, 7, 3]);
    const ints = sampleVector(replay([5, -6]), 3, 'int32');
    expect(ints).toBeInstanceOf(Int32Array);
    expect([...ints]).toEqual([5, -6, 5]);
    expect(sampleVector(replay([1]), 0)).toHaveLength(0);
  });

  it('refuses a draw outside int32 for an Int32Array, and bad lengths', () => {
    expect(() => sampleVector(replay([1, 2 ** 31]), 2, 'int32')).toThrow(/vector\[1\]: expected an int32/);
    expect(() => sampleVector(replay([1]), -1)).toThrow(PetError);
    expect(() => sampleVector(replay([1]), 1.5)).toThrow(PetError);
  });
});

describe('addNoise', () => {
  it('adds one draw per element in place', () => {
    const f = new Float64Array([10, -20, 0]);
    addNoise(f, replay([1, 2, -3]));
    expect([...f]).toEqual([11, -18, -3]);
    const i = new Int32Array([10, -20, 0]);
    addNoise(i, replay([1, 2, -3]));
    expect([...i]).toEqual([11, -18, -3]);
  });

  it('leaves the target untouched when an element is not an integer or would overflow', () => {
    const f = new Float64Array([1, 2.5, 3]);
    expect(() => addNoise(f, replay([1]))).toThrow(
      expect.objectContaining({ code: 'invalid-model-value', message: expect.stringContaining('target[1]') }),
    );
    expect([...f]).toEqual([1, 2.5, 3]);
    const i = new Int32Array([0, 2 ** 31 - 2]);
    expect(() => addNoise(i, replay([1, 5]))).toThrow(
      expect.objectContaining({ code: 'out-of-range', message: expect.stringContaining('target[1]') }),
    );
    expect([...i]).toEqual([0, 2 ** 31 - 2]);
    const big = new Float64Array([Number.MAX_SAFE_INTEGER]);
    expect(() => addNoise(big, replay([1]))).toThrow(PetError);
    expect(big[0]).toBe(Number.MAX_SAFE_INTEGER);
  });
});
