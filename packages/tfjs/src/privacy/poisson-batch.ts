/**
 * Poisson sampling of a DP-SGD batch: each of the N examples is in the batch independently with
 * probability q = b/N, so the batch size varies around b. This is the sampling the subsampled
 * Gaussian's accounting assumes (Mironov, Talwar & Zhang 2019; Abadi et al., "Deep Learning with
 * Differential Privacy", CCS 2016); shuffled fixed-size batches would need another analysis.
 *
 * Each trial is exact: an index uniform in [0, N) (32-bit words from the CSPRNG, the bits above
 * N − 1's bit length cleared, values ≥ N rejected) is below b with probability exactly b/N.
 */

import type { RandomSource } from '@petfl/core';

/** A uniform integer in [0, n) for an integer 1 ≤ n ≤ 2^32 (rejection sampling, module comment). */
function uniformBelow(source: RandomSource, n: number): number {
  if (n === 1) return 0;
  const mask = 0xffffffff >>> Math.clz32(n - 1);
  for (;;) {
    const v = (source.nextUint32() & mask) >>> 0;
    if (v < n) return v;
  }
}

/**
 * The indices (ascending) of one Poisson-sampled batch of `examples` examples with expected size
 * `expectedBatchSize` (an integer in [1, examples]; every index when they are equal).
 */
export function poissonBatch(source: RandomSource, examples: number, expectedBatchSize: number): Int32Array {
  if (expectedBatchSize === examples) return Int32Array.from({ length: examples }, (_, i) => i);
  const picked: number[] = [];
  for (let i = 0; i < examples; i++) {
    if (uniformBelow(source, examples) < expectedBatchSize) picked.push(i);
  }
  return Int32Array.from(picked);
}
