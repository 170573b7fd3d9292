/**
 * Task eligibility (protocol.md §2).
 *
 * A participant signs `roundSeed ‖ "sum"` with its Ed25519 identity key; if
 * SHA-256 of that signature, read as a little-endian 256-bit integer h,
 * satisfies h / (2^256 − 1) ≤ sumProbability it is a sum participant.
 * Otherwise it signs `roundSeed ‖ "update"` and applies the same test with
 * updateProbability. The comparison is exact: the probability is a double,
 * i.e. the rational m / 2^k, so the test is the integer inequality
 * h · 2^k ≤ m · (2^256 − 1). No float rounding can flip a decision.
 */

import { PetError } from '../errors.ts';
import { HASH_BYTES, type PetCrypto } from './sodium.ts';

export type Task = 'sum' | 'update' | 'none';

/** ASCII bytes of a string (the core compiles without DOM/Node, so no TextEncoder). */
const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const TASK_SUFFIX = { sum: ascii('sum'), update: ascii('update') };
const HASH_MAX = (1n << 256n) - 1n;

/** The exact rational value of a finite, non-negative double: numerator / 2^shift. */
export function doubleToRational(x: number): { numerator: bigint; shift: bigint } {
  if (!Number.isFinite(x) || x < 0) throw new RangeError(`expected a finite non-negative number, got ${x}`);
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const exponent = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (exponent !== 0) mantissa |= 1n << 52n;
  // value = mantissa · 2^(e − 1075), with e = 1 for subnormals
  const e = (exponent === 0 ? 1 : exponent) - 1075;
  if (e >= 0) return { numerator: mantissa << BigInt(e), shift: 0n };
  return { numerator: mantissa, shift: BigInt(-e) };
}

/** Little-endian unsigned integer of a byte string. */
export function bytesToBigIntLE(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i] as number);
  return v;
}

function checkProbability(probability: number, field: string): void {
  if (typeof probability !== 'number' || !(probability >= 0 && probability <= 1)) {
    throw new PetError('out-of-range', `${field}: expected a probability in [0, 1], got ${probability}`);
  }
}

/** Exact test h / (2^256 − 1) ≤ probability for a 32-byte hash h (little-endian). */
export function isEligibleHash(hash: Uint8Array, probability: number): boolean {
  if (hash.length !== HASH_BYTES) {
    throw new PetError('invalid-field', `eligibility hash: expected ${HASH_BYTES} bytes, got ${hash.length}`);
  }
  checkProbability(probability, 'probability');
  const h = bytesToBigIntLE(hash);
  const { numerator, shift } = doubleToRational(probability);
  return h << shift <= numerator * HASH_MAX;
}

function taskMessage(roundSeed: Uint8Array, task: 'sum' | 'update'): Uint8Array {
  const suffix = TASK_SUFFIX[task];
  const message = new Uint8Array(roundSeed.length + suffix.length);
  message.set(roundSeed);
  message.set(suffix, roundSeed.length);
  return message;
}

/** The task signature: Ed25519 over `roundSeed ‖ "sum"` or `roundSeed ‖ "update"`. */
export function taskSignature(
  crypto: PetCrypto,
  roundSeed: Uint8Array,
  task: 'sum' | 'update',
  secretKey: Uint8Array,
): Uint8Array {
  // SECURITY: secretKey is the participant's identity key; only used to sign here.
  return crypto.sign(taskMessage(roundSeed, task), secretKey);
}

/** Verifies a task signature and checks eligibility (the coordinator's re-check). */
export function verifyTaskSignature(
  crypto: PetCrypto,
  roundSeed: Uint8Array,
  task: 'sum' | 'update',
  signature: Uint8Array,
  publicKey: Uint8Array,
  probability: number,
): boolean {
  return (
    crypto.verify(signature, taskMessage(roundSeed, task), publicKey) &&
    isEligibleHash(crypto.hash(signature), probability)
  );
}

/**
 * Verifies a task signature and says whether it is eligible — the coordinator needs both
 * answers for an Update message, whose sum signature must verify and *not* be eligible
 * for sum (protocol.md §2).
 */
export function classifyTaskSignature(
  crypto: PetCrypto,
  roundSeed: Uint8Array,
  task: 'sum' | 'update',
  signature: Uint8Array,
  publicKey: Uint8Array,
  probability: number,
): 'invalid' | 'eligible' | 'not-eligible' {
  if (!crypto.verify(signature, taskMessage(roundSeed, task), publicKey)) return 'invalid';
  return isEligibleHash(crypto.hash(signature), probability) ? 'eligible' : 'not-eligible';
}

export interface TaskSelection {
  readonly task: Task;
  /** Always present: every message carries the sum signature (protocol.md §3). */
  readonly sumSignature: Uint8Array;
  /** Present when the participant is an update participant. */
  readonly updateSignature?: Uint8Array;
}

/** Selects this round's task: sum first, then update, else none (protocol.md §2). */
export function selectTask(
  crypto: PetCrypto,
  roundSeed: Uint8Array,
  secretKey: Uint8Array,
  probabilities: { readonly sum: number; readonly update: number },
): TaskSelection {
  checkProbability(probabilities.sum, 'sumProbability');
  checkProbability(probabilities.update, 'updateProbability');
  const sumSignature = taskSignature(crypto, roundSeed, 'sum', secretKey);
  if (isEligibleHash(crypto.hash(sumSignature), probabilities.sum)) return { task: 'sum', sumSignature };
  const updateSignature = taskSignature(crypto, roundSeed, 'update', secretKey);
  if (isEligibleHash(crypto.hash(updateSignature), probabilities.update)) {
    return { task: 'update', sumSignature, updateSignature };
  }
  return { task: 'none', sumSignature };
}
