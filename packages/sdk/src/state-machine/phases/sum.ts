/**
 * Sum: a sum participant announces its ephemeral public key with its sum
 * signature — the Sum payload (protocol.md §3.3) — and, once it is accepted,
 * waits in sum2 for the update seed dictionary.
 */

import type { StepIo } from '../io.ts';
import type { PhaseState } from '../state.ts';
import { complete, type StepResult } from '../step-result.ts';
import { startSending } from './sending.ts';

export async function sum(state: PhaseState<'sum'>, io: StepIo): Promise<StepResult> {
  const { sumSignature, ephemeral } = state.phase;
  const payload = { kind: 'sum', sum: { sumSignature, ephemeralPk: ephemeral.publicKey } } as const;
  return complete(startSending(state, io, payload, { kind: 'sum2', sumSignature, ephemeral }));
}
