/**
 * Awaiting: no task in this round (selected for none, done, or gave up).
 * Nothing to do; the /params check at the top of the next step after a wait
 * notices the next round (protocol.md §1.1; step.ts).
 */

import type { StepIo } from '../io.ts';
import type { PhaseState } from '../state.ts';
import { pending, type StepResult } from '../step-result.ts';

export async function awaiting(state: PhaseState<'awaiting'>, _io: StepIo): Promise<StepResult> {
  return pending(state, 'phase'); // the round's end is a phase change
}
