import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { initCrypto, type PetCrypto } from '../../crypto/sodium.ts';
import { fixtureSeed } from '../../testing/index.ts';
import { bernoulli, bernoulliBetween, bernoulliExp, bernoulliExpMinusOne } from './bernoulli.ts';
import { seededRandomSource } from './random-source.ts';
import { chiSquareTest, replaySource, splitMixSource } from './testing/goodness-of-fit.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

/** Chi-square test (1 dof) of `n` trials against probability p. */
function expectFrequency(trial: () => boolean, p: number, n: number): void {
  const outcomes = Array.from({ length: n }, () => (trial() ? 1 : 0));
  const test = chiSquareTest(outcomes, { lo: 0, p: new Float64Array([1 - p, p]) }, 5);
  expect(test.statistic, `χ² = ${test.statistic} (p = ${test.pValue})`).toBeLessThan(test.critical);
}

describe('bernoulli (lazy comparison with a uniform, exact fallback)', () => {
  it('decides at 32 bits, at 53 bits, and exactly beyond (replayed words)', () => {
    // 1/3 = 0.0101…₂: words that agree with its expansion keep the trial undecided.
    const agree = [0x55555555, 0x55555555, 0xaaaaaaaa, 0xaaaaaaaa];
    const under = replaySource([...agree, 0xaaaaaaa9]);
    expect(bernoulli(under, 1, 3)).toBe(true);
    expect(under.used).toBe(5);
    const above = replaySource([...agree, 0xaaaaaaab]);
    expect(bernoulli(above, 1n, 3n)).toBe(false);
    expect(above.used).toBe(5);
    // p = 1/2 exactly: U ∈ [1/2, 1/2 + 2^−53) is ≥ p; U < 1/2 − 2^−53 + 2^−53 is < p. Both
    // intervals touch the bounds' margin around 1/2, so both go to the exact stage at 53 bits.
    const half = replaySource([0x80000000, 0]);
    expect(bernoulli(half, 1, 2)).toBe(false);
    expect(half.used).toBe(2);
    const below = replaySource([0x7fffffff, 0xffffffff]);
    expect(bernoulli(below, 1, 2)).toBe(true);
    expect(below.used).toBe(2);
    // far from p: one word
    const far = replaySource([0x10000000]);
    expect(bernoulli(far, 1, 2)).toBe(true);
    expect(far.used).toBe(1);
    // Trivial probabilities draw nothing.
    expect(bernoulli(replaySource([]), 0, 5)).toBe(false);
    expect(bernoulli(replaySource([]), 5, 5)).toBe(true);
  });

  it('answers exactly as with no shortcut at all (bounds loosened to [0, 1]), word for word', () => {
    const ratio = fc.oneof(
      fc.tuple(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 1, max: 2 ** 40 })),
      fc.tuple(fc.bigInt({ min: 0n, max: 2n ** 1100n }), fc.bigInt({ min: 1n, max: 2n ** 1100n })),
      // near-dyadic ratios, whose expansions agree with many words
      fc
        .tuple(fc.integer({ min: 1, max: 2 ** 20 }), fc.integer({ min: 0, max: 60 }))
        .map(([k, e]) => [2n ** BigInt(e) * BigInt(k) + 1n, 2n ** BigInt(e + 21)] as const),
    );
    // Words: random ones, and ones copied from p's own binary expansion (U agreeing with p for
    // a while), which drive the trial through the exact stages.
    fc.assert(
      fc.property(ratio, fc.integer(), fc.integer({ min: 0, max: 3 }), ([a, b], seed, agree) => {
        const [num, den] = a <= b ? [a, b] : [b, a];
        fc.pre(num > 0 && num < den); // p = 0 and p = 1 are answered without a draw
        const n = BigInt(num);
        const d = BigInt(den);
        const random = splitMixSource(seed);
        const words = Array.from({ length: 12 }, () => random.nextUint32());
        // p's expansion: its first 32 bits, its next 21 bits (in a word's top bits), then 32 at a time
        const digits = (bits: number) => Number(((n << BigInt(bits)) / d) & ((1n << 32n) - 1n));
        const expansion = [digits(32), (digits(53) & 0x1fffff) << 11, digits(85), digits(117)];
        for (let i = 0; i < agree; i++) words[i] = (expansion[i] as number) >>> 0;
        expect(bernoulli(replaySource(words), num, den)).toBe(
          bernoulliBetween(replaySource(words), 0, 1, () => [n, d], 0),
        );
      }),
      { numRuns: 500 },
    );
  });

  it('has frequency num/den (chi-square at a fixed seed)', () => {
    const source = seededRandomSource(crypto, fixtureSeed(10));
    expectFrequency(() => bernoulli(source, 1, 3), 1 / 3, 20_000);
    expectFrequency(() => bernoulli(source, 2n ** 200n, 3n * 2n ** 199n), 2 / 3, 20_000);
    expectFrequency(() => bernoulli(source, 1n, 7n * 2n ** 1000n), 0, 2_000);
  });
});

describe('bernoulliExp (Canonne, Kamath & Steinke, Algorithm 1)', () => {
  it('has frequency exp(−γ) for γ in [0, 1], above 1, and in bigints (chi-square at fixed seeds)', () => {
    const source = seededRandomSource(crypto, fixtureSeed(11));
    expectFrequency(() => bernoulliExpMinusOne(source), Math.exp(-1), 20_000);
    for (const [n, d] of [
      [0, 1],
      [1, 2],
      [3, 2],
      [5, 1],
    ] as const) {
      expectFrequency(() => bernoulliExp(source, n, d), Math.exp(-n / d), 10_000);
    }
    expectFrequency(() => bernoulliExp(source, 7n * 2n ** 100n, 3n * 2n ** 100n), Math.exp(-7 / 3), 10_000);
    // den·K passes 2^53 at K = 2: the K loop continues in bigints
    const d = 2 ** 52 + 1;
    expectFrequency(() => bernoulliExp(source, d - 1, d), Math.exp(-(d - 1) / d), 10_000);
  });

  it('is γ = 0 → always, and deterministic for a seed', () => {
    expect(bernoulliExp(replaySource([]), 0, 7)).toBe(true);
    const a = seededRandomSource(crypto, fixtureSeed(12));
    const b = seededRandomSource(crypto, fixtureSeed(12));
    const xs = Array.from({ length: 200 }, () => bernoulliExp(a, 5, 4));
    expect(Array.from({ length: 200 }, () => bernoulliExp(b, 5, 4))).toEqual(xs);
  });
});
