/**
 * Eligibility from a message's leading signatures (protocol.md §2): the checks each phase makes on
 * the first bytes of a payload (or of chunk 0's data) before anything is decoded or held
 * (docs/security.md §4). They read only the round's seed and task probabilities, so they are pure
 * functions of the message: the phases call them on the coordinator's thread, and an ingest worker
 * (ingest.ts) may run them beside the message's opening, handing back only the verdict.
 */

import {
  classifyTaskSignature,
  isPetError,
  type MessageTag,
  type PetCrypto,
  PetError,
  type PetErrorCode,
  SIGNATURE_BYTES,
  verifyTaskSignature,
} from '@petfl/core';

/** What the checks read of the round: a `RoundRecord` is one. */
export interface EligibilityFacts {
  readonly seed: Uint8Array;
  readonly pet: {
    readonly sum: { readonly probability: number };
    readonly update: { readonly probability: number };
  };
}

/** The facts alone, as a worker receives them (no round secret key, no other round data). */
export function eligibilityFacts(facts: EligibilityFacts): EligibilityFacts {
  return {
    seed: facts.seed,
    pet: { sum: { probability: facts.pet.sum.probability }, update: { probability: facts.pet.update.probability } },
  };
}

/**
 * The outcome of the signature checks on a message's leading bytes: null when they make the sender
 * eligible, else the PetError they throw, as code and message (it crosses threads as plain data).
 */
export type EligibilityVerdict = { readonly code: PetErrorCode; readonly message: string } | null;

/** The sum signature must verify and be eligible for sum (a Sum payload's first 64 bytes). */
export function checkSumSignature(
  crypto: PetCrypto,
  facts: EligibilityFacts,
  participantPk: Uint8Array,
  prefix: Uint8Array,
): void {
  const { seed, pet } = facts;
  if (prefix.length < SIGNATURE_BYTES) {
    throw new PetError('truncated', `sum payload: expected at least ${SIGNATURE_BYTES} bytes, got ${prefix.length}`);
  }
  const signature = prefix.subarray(0, SIGNATURE_BYTES);
  if (!verifyTaskSignature(crypto, seed, 'sum', signature, participantPk, pet.sum.probability)) {
    throw new PetError(
      'not-eligible',
      `sum: expected a sum signature that verifies and is eligible for sum (p = ${pet.sum.probability})`,
    );
  }
}

/**
 * The two signatures at the start of an Update payload: the sum signature must verify and not be
 * eligible for sum, the update signature must verify and be eligible for update.
 */
export function checkUpdateSignatures(
  crypto: PetCrypto,
  facts: EligibilityFacts,
  participantPk: Uint8Array,
  prefix: Uint8Array,
): void {
  if (prefix.length < 2 * SIGNATURE_BYTES) {
    throw new PetError(
      'truncated',
      `update payload: expected at least ${2 * SIGNATURE_BYTES} bytes of signatures, got ${prefix.length}`,
    );
  }
  const { seed, pet } = facts;
  const sumSignature = prefix.subarray(0, SIGNATURE_BYTES);
  const updateSignature = prefix.subarray(SIGNATURE_BYTES, 2 * SIGNATURE_BYTES);
  const sum = classifyTaskSignature(crypto, seed, 'sum', sumSignature, participantPk, pet.sum.probability);
  if (sum !== 'not-eligible') {
    throw new PetError(
      'not-eligible',
      `update: expected a sum signature that verifies and is not eligible for sum (p = ${pet.sum.probability})`,
    );
  }
  if (!verifyTaskSignature(crypto, seed, 'update', updateSignature, participantPk, pet.update.probability)) {
    throw new PetError(
      'not-eligible',
      `update: expected an update signature that verifies and is eligible for update (p = ${pet.update.probability})`,
    );
  }
}

/** A Sum2 payload's sum signature must verify and be eligible for sum (its sender's membership is checked apart). */
export function checkSum2Signature(
  crypto: PetCrypto,
  facts: EligibilityFacts,
  participantPk: Uint8Array,
  prefix: Uint8Array,
): void {
  if (prefix.length < SIGNATURE_BYTES) {
    throw new PetError('truncated', `sum2 payload: expected at least ${SIGNATURE_BYTES} bytes, got ${prefix.length}`);
  }
  const { seed, pet } = facts;
  const signature = prefix.subarray(0, SIGNATURE_BYTES);
  if (!verifyTaskSignature(crypto, seed, 'sum', signature, participantPk, pet.sum.probability)) {
    throw new PetError('not-eligible', 'sum2: expected a sum signature that verifies and is eligible for sum');
  }
}

/** The signature checks of a message of `tag`, as a verdict instead of a throw. */
export function eligibilityVerdict(
  crypto: PetCrypto,
  facts: EligibilityFacts,
  tag: MessageTag,
  participantPk: Uint8Array,
  prefix: Uint8Array,
): EligibilityVerdict {
  try {
    if (tag === 'sum') checkSumSignature(crypto, facts, participantPk, prefix);
    else if (tag === 'update') checkUpdateSignatures(crypto, facts, participantPk, prefix);
    else checkSum2Signature(crypto, facts, participantPk, prefix);
    return null;
  } catch (error) {
    if (isPetError(error)) return { code: error.code, message: error.message };
    throw error;
  }
}
