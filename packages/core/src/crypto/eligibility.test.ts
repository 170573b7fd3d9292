/**
 * Task eligibility (protocol.md §2): SHA-256 of the task signature read little-endian as h;
 * eligible iff h / (2^256 − 1) ≤ p, exactly. The boundary is probed with the double nearest to
 * h / (2^256 − 1) and its two neighbours, against an exact BigInt comparison written here.
 */

import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { codeOf } from '../../test-support/reference.ts';
import {
  bytesToBigIntLE,
  classifyTaskSignature,
  isEligibleHash,
  selectTask,
  taskSignature,
  verifyTaskSignature,
} from './eligibility.ts';
import { initCrypto, type PetCrypto } from './sodium.ts';

const HASH_MAX = (1n << 256n) - 1n;

const toBytesLE = (h: bigint): Uint8Array =>
  Uint8Array.from({ length: 32 }, (_, i) => Number((h >> BigInt(8 * i)) & 0xffn));
const fromBytesLE = (bytes: Uint8Array): bigint => bytes.reduceRight((acc, b) => (acc << 8n) | BigInt(b), 0n);
const bitLength = (n: bigint): number => (n === 0n ? 0 : n.toString(2).length);

/** The exact value of a finite non-negative double as num / den. */
function rational(x: number): { num: bigint; den: bigint } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const exponent = Number((bits >> 52n) & 0x7ffn);
  let mantissa = bits & ((1n << 52n) - 1n);
  if (exponent !== 0) mantissa |= 1n << 52n;
  const e = (exponent === 0 ? 1 : exponent) - 1075;
  return e >= 0 ? { num: mantissa << BigInt(e), den: 1n } : { num: mantissa, den: 1n << BigInt(-e) };
}

/** The double nearest to num / den (0 ≤ num ≤ den), ties to even. */
function nearest(num: bigint, den: bigint): number {
  if (num === 0n) return 0;
  let e = bitLength(num) - bitLength(den) - 53;
  const quotient = (k: number): [bigint, bigint, bigint] => {
    const [a, b] = k >= 0 ? [num, den << BigInt(k)] : [num << BigInt(-k), den];
    return [a / b, a, b];
  };
  let [q, a, b] = quotient(e);
  while (q >= 1n << 53n) [q, a, b] = quotient(++e);
  const r2 = 2n * (a - q * b);
  if (r2 > b || (r2 === b && (q & 1n) === 1n)) q += 1n;
  return Number(q) * 2 ** e;
}

/** The neighbouring double (by bit pattern) of a non-negative double. */
function neighbour(x: number, step: 1 | -1): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  view.setBigUint64(0, view.getBigUint64(0) + BigInt(step));
  return view.getFloat64(0);
}

/** h / (2^256 − 1) ≤ p, exactly. */
function exactlyEligible(h: bigint, p: number): boolean {
  const { num, den } = rational(p);
  return h * den <= num * HASH_MAX;
}

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

describe('isEligibleHash: the exact boundary', () => {
  const hashes: [string, () => bigint][] = [
    ['0', () => 0n],
    ['1', () => 1n],
    ['2^255', () => 1n << 255n],
    ['2^255 − 1', () => (1n << 255n) - 1n],
    ['2^256 − 1', () => HASH_MAX],
    ['2^256 − 2', () => HASH_MAX - 1n],
    ['0.3·(2^256 − 1) rounded', () => (3n * HASH_MAX) / 10n],
    ['2^200 + 12345', () => (1n << 200n) + 12345n],
    ['SHA-256("a")', () => fromBytesLE(new Uint8Array(createHash('sha256').update('a').digest()))],
    ['SHA-256("b")', () => fromBytesLE(new Uint8Array(createHash('sha256').update('b').digest()))],
    ['SHA-256("petfl")', () => fromBytesLE(new Uint8Array(createHash('sha256').update('petfl').digest()))],
  ];

  for (const [what, make] of hashes) {
    it(`h = ${what}`, () => {
      const h = make();
      const bytes = toBytesLE(h);
      const p = nearest(h, HASH_MAX);
      const candidates = [neighbour(p, -1), p, neighbour(p, 1)].filter((x) => x >= 0 && x <= 1 && !Object.is(x, -0));
      expect(candidates).toContain(p);
      for (const q of candidates) expect(isEligibleHash(bytes, q), `p = ${q}`).toBe(exactlyEligible(h, q));
      const { num, den } = rational(p);
      const exact = h * den === num * HASH_MAX;
      if (exact) {
        expect(isEligibleHash(bytes, p)).toBe(true);
      } else {
        // p is not h/(2^256 − 1): one ulp below is always too small, one ulp above always enough
        if (p > 0) expect(isEligibleHash(bytes, neighbour(p, -1))).toBe(false);
        if (p < 1) expect(isEligibleHash(bytes, neighbour(p, 1))).toBe(true);
      }
    });
  }

  it('2^255 / (2^256 − 1) rounds to 0.5 but exceeds it: not eligible at 0.5', () => {
    expect(nearest(1n << 255n, HASH_MAX)).toBe(0.5);
    expect(isEligibleHash(toBytesLE(1n << 255n), 0.5)).toBe(false);
    expect(isEligibleHash(toBytesLE((1n << 255n) - 1n), 0.5)).toBe(true);
  });

  it('p = 0 admits only h = 0; p = 1 admits every hash', () => {
    expect(isEligibleHash(toBytesLE(0n), 0)).toBe(true);
    expect(isEligibleHash(toBytesLE(1n), 0)).toBe(false);
    // 1/(2^256 − 1) ≈ 8.6e-78: above the smallest subnormal, below 1e-77
    expect(isEligibleHash(toBytesLE(1n), Number.MIN_VALUE)).toBe(false);
    expect(isEligibleHash(toBytesLE(1n), 1e-77)).toBe(true);
    expect(isEligibleHash(toBytesLE(HASH_MAX), 1)).toBe(true);
    expect(isEligibleHash(toBytesLE(HASH_MAX), neighbour(1, -1))).toBe(false);
    expect(isEligibleHash(toBytesLE(0n), 1)).toBe(true);
  });

  it('rejects probabilities outside [0, 1] with out-of-range', () => {
    for (const p of [Number.NaN, -0.1, 1.1, Number.POSITIVE_INFINITY, -Number.MIN_VALUE, neighbour(1, 1)]) {
      expect(
        codeOf(() => isEligibleHash(toBytesLE(5n), p)),
        String(p),
      ).toBe('out-of-range');
    }
  });

  it('rejects hashes that are not 32 bytes', () => {
    expect(codeOf(() => isEligibleHash(new Uint8Array(31), 0.5))).toBe('invalid-field');
  });
});

describe('task selection (protocol.md §2)', () => {
  const roundSeed = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
  const message = (task: string): Uint8Array => new Uint8Array([...roundSeed, ...Buffer.from(task, 'ascii')]);
  const hashOf = (signature: Uint8Array): bigint =>
    fromBytesLE(new Uint8Array(createHash('sha256').update(signature).digest()));
  /** h / (2^256 − 1) as the nearest double, and a probability just below it (never eligible). */
  const justBelow = (h: bigint): number => {
    const p = nearest(h, HASH_MAX);
    return exactlyEligible(h, p) ? neighbour(p, -1) : p;
  };

  it('signs seed ‖ "sum" and seed ‖ "update" with the identity key (Ed25519, deterministic)', () => {
    const keys = crypto.signingKeyPair(new Uint8Array(32).fill(3));
    for (const task of ['sum', 'update'] as const) {
      const signature = taskSignature(crypto, roundSeed, task, keys.secretKey);
      expect(signature).toEqual(crypto.sign(message(task), keys.secretKey));
      expect(crypto.verify(signature, message(task), keys.publicKey)).toBe(true);
      expect(taskSignature(crypto, roundSeed, task, keys.secretKey)).toEqual(signature);
    }
  });

  it('sum first, then update, else none — decided by the exact hash test', () => {
    for (let k = 0; k < 8; k++) {
      const keys = crypto.signingKeyPair(new Uint8Array(32).fill(k));
      const sumSignature = crypto.sign(message('sum'), keys.secretKey);
      const updateSignature = crypto.sign(message('update'), keys.secretKey);
      const hSum = hashOf(sumSignature);
      const hUpdate = hashOf(updateSignature);
      const pSum = nearest(hSum, HASH_MAX);
      const pUpdate = nearest(hUpdate, HASH_MAX);
      const sumAt = exactlyEligible(hSum, pSum) ? pSum : neighbour(pSum, 1);
      const updateAt = exactlyEligible(hUpdate, pUpdate) ? pUpdate : neighbour(pUpdate, 1);

      // eligible for both: sum wins, and no update signature is made
      const both = selectTask(crypto, roundSeed, keys.secretKey, { sum: sumAt, update: 1 });
      expect(both).toEqual({ task: 'sum', sumSignature });
      expect('updateSignature' in both).toBe(false);
      // just below the sum threshold: update
      expect(selectTask(crypto, roundSeed, keys.secretKey, { sum: justBelow(hSum), update: updateAt })).toEqual({
        task: 'update',
        sumSignature,
        updateSignature,
      });
      // just below both: none, still carrying the sum signature
      expect(
        selectTask(crypto, roundSeed, keys.secretKey, { sum: justBelow(hSum), update: justBelow(hUpdate) }),
      ).toEqual({ task: 'none', sumSignature });
      // deterministic
      expect(selectTask(crypto, roundSeed, keys.secretKey, { sum: 0.5, update: 0.5 })).toEqual(
        selectTask(crypto, roundSeed, keys.secretKey, { sum: 0.5, update: 0.5 }),
      );
    }
  });

  it('rejects out-of-range probabilities', () => {
    const keys = crypto.signingKeyPair(new Uint8Array(32));
    expect(codeOf(() => selectTask(crypto, roundSeed, keys.secretKey, { sum: 1.1, update: 0.5 }))).toBe('out-of-range');
    expect(codeOf(() => selectTask(crypto, roundSeed, keys.secretKey, { sum: 0.5, update: Number.NaN }))).toBe(
      'out-of-range',
    );
    expect(codeOf(() => selectTask(crypto, roundSeed, keys.secretKey, { sum: -0.1, update: 0.5 }))).toBe(
      'out-of-range',
    );
  });

  it('classifyTaskSignature tells an invalid signature from an eligible and a non-eligible one', () => {
    const keys = crypto.signingKeyPair(new Uint8Array(32).fill(9));
    const sig = taskSignature(crypto, roundSeed, 'sum', keys.secretKey);
    const h = bytesToBigIntLE(crypto.hash(sig));
    // p just above and just below h / (2^256 − 1), as exact doubles around the boundary
    const p = Number(h) / 2 ** 256;
    const above = Math.min(1, p * (1 + 2 ** -40));
    const below = p * (1 - 2 ** -40);
    expect(classifyTaskSignature(crypto, roundSeed, 'sum', sig, keys.publicKey, above)).toBe('eligible');
    expect(classifyTaskSignature(crypto, roundSeed, 'sum', sig, keys.publicKey, below)).toBe('not-eligible');
    const flipped = sig.slice();
    flipped[5] = (flipped[5] as number) ^ 0x80;
    expect(classifyTaskSignature(crypto, roundSeed, 'sum', flipped, keys.publicKey, 1)).toBe('invalid');
    expect(classifyTaskSignature(crypto, roundSeed, 'update', sig, keys.publicKey, 1)).toBe('invalid');
  });

  it('verifyTaskSignature accepts the participant’s own signature and rejects a flipped one', () => {
    const keys = crypto.signingKeyPair(new Uint8Array(32).fill(7));
    const other = crypto.signingKeyPair(new Uint8Array(32).fill(8));
    const selection = selectTask(crypto, roundSeed, keys.secretKey, { sum: 1, update: 1 });
    expect(selection.task).toBe('sum');
    const sig = selection.sumSignature;
    expect(verifyTaskSignature(crypto, roundSeed, 'sum', sig, keys.publicKey, 1)).toBe(true);
    for (const i of [0, 31, 63]) {
      const flipped = sig.slice();
      flipped[i] = (flipped[i] as number) ^ 0x01;
      expect(verifyTaskSignature(crypto, roundSeed, 'sum', flipped, keys.publicKey, 1)).toBe(false);
    }
    expect(verifyTaskSignature(crypto, roundSeed, 'update', sig, keys.publicKey, 1)).toBe(false);
    expect(verifyTaskSignature(crypto, roundSeed, 'sum', sig, other.publicKey, 1)).toBe(false);
    const seed2 = roundSeed.slice();
    seed2[0] = 0;
    expect(verifyTaskSignature(crypto, seed2, 'sum', sig, keys.publicKey, 1)).toBe(false);
    // a valid signature that is not eligible at the probability is rejected too
    const h = hashOf(sig);
    expect(verifyTaskSignature(crypto, roundSeed, 'sum', sig, keys.publicKey, justBelow(h))).toBe(false);
  });

  it('selects about 30 % of 2000 participants for sum at p = 0.3', () => {
    let sums = 0;
    for (let k = 0; k < 2000; k++) {
      const seed = new Uint8Array(32);
      new DataView(seed.buffer).setUint32(0, k, true);
      const keys = crypto.signingKeyPair(seed);
      if (selectTask(crypto, roundSeed, keys.secretKey, { sum: 0.3, update: 0 }).task === 'sum') sums++;
    }
    expect(sums / 2000).toBeGreaterThanOrEqual(0.25);
    expect(sums / 2000).toBeLessThanOrEqual(0.35);
  });
});
