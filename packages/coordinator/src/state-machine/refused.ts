/**
 * A message the store did not take (coordinator-store.ts `AddOutcome`), as the PetError its
 * sender gets: with several coordinator instances on one store (ADR 0008) the store is what
 * decides duplicates, count.max and whether the round is still in the message's phase.
 */

import { PetError } from '@petfl/core';
import type { AddOutcome, LivePhase } from '../store/coordinator-store.ts';

export function refused(
  tag: LivePhase,
  outcome: Exclude<AddOutcome, 'added'>,
  duplicate: string,
  max: number,
): PetError {
  switch (outcome) {
    case 'duplicate':
      return new PetError('duplicate-message', `${tag}: ${duplicate}`);
    case 'full':
      return new PetError('phase-full', `${tag}: expected at most ${max} ${tag} messages, got one more`);
    case 'closed':
      return new PetError('wrong-phase', `${tag}: the ${tag} phase has ended`);
  }
}
