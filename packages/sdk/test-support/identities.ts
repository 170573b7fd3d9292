/**
 * Identity seeds for the engine's tests: tasks are a fixed function of the identity key and the
 * round seed (protocol.md §2), so a test picks the identities that draw the task it wants.
 */

import { type PetCrypto, type RoundParameters, selectTask } from '@petfl/core';

/** `count` identity seeds whose task in `round` is `task`; throws when fewer than `count` of 255 draw it. */
export function identitiesFor(
  crypto: PetCrypto,
  round: RoundParameters,
  task: 'sum' | 'update' | 'none',
  count: number,
): Uint8Array[] {
  const found: Uint8Array[] = [];
  const probabilities = { sum: round.sumProbability, update: round.updateProbability };
  for (let i = 1; found.length < count && i < 256; i++) {
    const seed = new Uint8Array(32).fill(i);
    if (selectTask(crypto, round.seed, crypto.signingKeyPair(seed).secretKey, probabilities).task === task) {
      found.push(seed);
    }
  }
  if (found.length < count)
    throw new Error(`identitiesFor: ${found.length} of 255 identities draw ${task}, not ${count}`);
  return found;
}
