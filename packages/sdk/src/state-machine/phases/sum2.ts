/**
 * Sum2: a sum participant fetches its update seed dictionary (protocol.md
 * §1.2, §3.8; a request signed with its identity key), opens every encrypted
 * mask seed with its ephemeral key, derives every mask (§5.2–5.3), adds them
 * into the aggregated mask and sends the Sum2 payload (§3.5). Then it awaits
 * the next round.
 *
 * A seed that does not open, or opens to anything but a 32-byte mask seed,
 * is the update participant's fault (or the coordinator's), not this
 * participant's: it is skipped and its update participant goes into the
 * Sum2's rejected seeds (§3.5), so one garbage seed no longer costs the round
 * every sum participant's Sum2.
 *
 * A coordinator that does not know it ('unknown-sum-participant': its Sum
 * never made it into the sum dictionary) refuses the read; step then
 * abandons the round with that code as `lastError`.
 *
 * Early derivation (ADR 0017): where the client can (`getSeedsSoFar`), the
 * step also reads the seeds accepted so far while the update phase runs,
 * derives their masks into an aggregation kept in memory (never saved: a
 * participant that restarts derives them all once the update phase has
 * ended) and waits again. When the final dictionary comes, only the seeds not
 * yet derived are: the sum is the same, since adding masks commutes. The
 * early work is used only if the final dictionary holds every seed it
 * derived, byte for byte; otherwise (a coordinator that changed its answer)
 * it is dropped and every mask is derived from the final dictionary alone.
 */

import {
  Aggregation,
  compareBytes,
  dictionaryKeyBytes,
  type EncryptKeyPair,
  isDistributed,
  isPetError,
  SEED_BYTES,
  signSeedsRequest,
} from '@petfl/core';
import type { StepIo } from '../io.ts';
import type { PhaseState, Sum2Phase } from '../state.ts';
import { abandonRound, complete, pending, type StepResult } from '../step-result.ts';
import { startSending } from './sending.ts';

export async function sum2(state: PhaseState<'sum2'>, io: StepIo): Promise<StepResult> {
  const { round, phase } = state;
  // SECURITY: the identity secret key (owned by the state) signs the request for this round's column.
  const signature = signSeedsRequest(io.crypto, round.coordinatorPk, state.identity);
  const answer =
    io.client.getSeedsSoFar === undefined
      ? await finalSeeds(io, state, signature)
      : await io.client.getSeedsSoFar(state.identity.publicKey, signature);
  if (answer === undefined) return pending(state, 'phase'); // the update phase has not started or is still running
  const { seeds } = answer;
  const key = phase.ephemeral.secretKey;
  let derived = earlyWork.get(key);
  if (derived !== undefined && !holdsAll(seeds, derived.seeds)) {
    derived = undefined; // not this dictionary's work: start again from it alone
    earlyWork.delete(key);
  }
  derived ??= {
    aggregation: new Aggregation(round.maskConfig, round.modelLength),
    seeds: new Map(),
    rejected: [],
  };
  deriveNew(io, phase.ephemeral, seeds, derived);
  if (!answer.final) {
    earlyWork.set(key, derived);
    return pending(state); // more seeds may come until the update phase ends
  }
  earlyWork.delete(key);
  const { aggregation } = derived;
  const rejectedSeeds = derived.rejected.map((pk) => dictionaryKeyBytes(pk, `update seed dictionary key ${pk}`));
  // Distributed noise (docs/privacy.md §2): the sum carries the promised noise only with at least
  // `participants` updates in it. With fewer, this sum participant does not help unmask it.
  const privacy = round.privacy;
  const opened = seeds.size - rejectedSeeds.length;
  if (privacy !== undefined && isDistributed(privacy) && opened < privacy.participants) {
    return abandonRound(state, io, {
      code: 'privacy-limit',
      message:
        `round ${round.roundId}: ${opened} update${opened === 1 ? '' : 's'} to unmask, fewer than the ` +
        `${privacy.participants} whose noise the promise counts on; no mask sent`,
      roundId: round.roundId,
    });
  }
  rejectedSeeds.sort(compareBytes); // protocol.md §3.5: equal reports encode equally
  const payload = {
    kind: 'sum2',
    sum2: { sumSignature: phase.sumSignature, aggregatedMask: aggregation.toMaskObject(), rejectedSeeds },
  } as const;
  const next = startSending(state, io, payload, { kind: 'awaiting' });
  // SECURITY: every seed is opened and the Sum2 is sealed: the ephemeral secret key has done its job.
  io.crypto.wipe(phase.ephemeral.secretKey);
  return complete(next);
}

/** The masks derived so far in one sum task: kept in memory only, by its ephemeral secret key. */
interface EarlyWork {
  readonly aggregation: Aggregation;
  /** Every seed taken into account (derived or rejected): update participant → encrypted seed. */
  readonly seeds: Map<string, Uint8Array>;
  /** The update participants whose seeds did not open (protocol.md §3.5). */
  readonly rejected: string[];
}

/**
 * Keyed by the sum task's ephemeral secret key, the one object that lives exactly as long as the
 * task (one round's) in this process: a saved and restored state holds a new array, and starts afresh.
 */
const earlyWork = new WeakMap<Uint8Array, EarlyWork>();

/**
 * How many seeds of the update phase so far this sum task has taken (derived or rejected, ADR
 * 0017): the run loop waits longer while reads bring none (run.ts).
 */
export function seedsTakenEarly(phase: Sum2Phase): number {
  return earlyWork.get(phase.ephemeral.secretKey)?.seeds.size ?? 0;
}

async function finalSeeds(io: StepIo, state: PhaseState<'sum2'>, signature: Uint8Array) {
  const seeds = await io.client.getSeeds(state.identity.publicKey, signature);
  return seeds === undefined ? undefined : { seeds, final: true };
}

/** True when `seeds` holds every entry of `derived`, with the same bytes. */
function holdsAll(seeds: ReadonlyMap<string, Uint8Array>, derived: ReadonlyMap<string, Uint8Array>): boolean {
  if (derived.size > seeds.size) return false;
  for (const [pk, encryptedSeed] of derived) {
    const now = seeds.get(pk);
    if (now === undefined || compareBytes(now, encryptedSeed) !== 0) return false;
  }
  return true;
}

/** Opens every seed of `seeds` that `work` has not taken yet and adds its mask (or rejects it). */
function deriveNew(
  io: StepIo,
  ephemeral: EncryptKeyPair,
  seeds: ReadonlyMap<string, Uint8Array>,
  work: EarlyWork,
): void {
  for (const [updateParticipantPk, encryptedSeed] of seeds) {
    if (work.seeds.has(updateParticipantPk)) continue;
    work.seeds.set(updateParticipantPk, encryptedSeed.slice());
    // SECURITY: the ephemeral secret key (owned by this phase) opens one mask seed, which lives
    // only for this iteration and is wiped right after its mask is derived.
    const seed = openSeed(io, encryptedSeed, ephemeral, updateParticipantPk);
    if (seed === undefined) {
      work.rejected.push(updateParticipantPk);
      continue;
    }
    try {
      // Drawn straight into the aggregate: no whole mask is ever allocated (protocol.md §5.2–5.3).
      work.aggregation.aggregateDerived(io.crypto, seed);
    } finally {
      io.crypto.wipe(seed);
    }
  }
}

/**
 * The mask seed sealed in `encryptedSeed`, or undefined when the box does not open
 * ('decrypt-failed') or holds anything but 32 bytes (protocol.md §3.5: a rejected seed). Any
 * other failure (a key pair of the wrong length: this participant's own state) is thrown.
 */
function openSeed(
  io: StepIo,
  encryptedSeed: Uint8Array,
  ephemeral: EncryptKeyPair,
  updateParticipantPk: string,
): Uint8Array | undefined {
  let opened: Uint8Array;
  try {
    opened = io.crypto.openSealed(encryptedSeed, ephemeral, `mask seed of ${updateParticipantPk}`);
  } catch (error) {
    if (isPetError(error, 'decrypt-failed')) return undefined;
    throw error;
  }
  if (opened.length === SEED_BYTES) return opened;
  // SECURITY: whatever the box held is not a mask seed, but may be one's prefix: wipe it too.
  io.crypto.wipe(opened);
  return undefined;
}
