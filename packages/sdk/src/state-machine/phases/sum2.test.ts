/**
 * Sum2 with early derivation (ADR 0017): a sum participant whose client reads the seeds so far
 * derives their masks while the update phase runs, and only the rest once the final dictionary
 * comes. Its Sum2 is byte for byte the one a participant that derived everything at the end
 * sends; work that does not fit the final dictionary, or a restored state, starts afresh.
 */

import { initCrypto, type PetCrypto, type RoundParameters, toBase64Url } from '@petfl/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { FakeCoordinator } from '../../../test-support/fake-coordinator.ts';
import { identitiesFor as identitiesOf } from '../../../test-support/identities.ts';
import type { SeedsSoFar } from '../../client/coordinator-client.ts';
import type { StepIo } from '../io.ts';
import { createInitialState, type ParticipantState } from '../state.ts';
import { step } from '../step.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

interface Participant {
  state: ParticipantState;
  io: StepIo;
  /** Seed boxes this participant opened. */
  opened: number;
}

/** Identity seeds whose task in `round` is the one wanted. */
const identitiesFor = (round: RoundParameters, task: 'sum' | 'update' | 'none', count: number): Uint8Array[] =>
  identitiesOf(crypto, round, task, count);

/**
 * A sum participant on `coordinator`; with `soFar`, its client reads the seeds so far through it
 * (the answer for this participant's column, or undefined for a 204).
 */
function sumParticipant(
  coordinator: FakeCoordinator,
  identitySeed: Uint8Array,
  soFar?: (pk: string) => SeedsSoFar | undefined,
): Participant {
  // Counts the seed boxes opened: every derived mask opens one.
  const counting: PetCrypto = Object.create(crypto);
  const p: Participant = {
    state: createInitialState(crypto, { identitySeed }),
    opened: 0,
    io: {
      crypto: counting,
      client:
        soFar === undefined ? coordinator : coordinator.with({ getSeedsSoFar: async (pk) => soFar(toBase64Url(pk)) }),
      localModel: () => undefined,
    },
  };
  counting.openSealed = (...args) => {
    p.opened++;
    return crypto.openSealed(...args);
  };
  return p;
}

function updateParticipant(coordinator: FakeCoordinator, identitySeed: Uint8Array, u: number): Participant {
  const model = Array.from({ length: 32 }, (_, i) => Math.sin(u * 32 + i) * 0.9);
  return {
    state: createInitialState(crypto, { identitySeed }),
    opened: 0,
    io: { crypto, client: coordinator, localModel: () => model },
  };
}

/** Steps until a 'pending' step. */
async function settle(p: Participant): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    const result = await step(p.state, p.io);
    p.state = result.state;
    if (result.kind === 'pending') return;
  }
  throw new Error('the participant never settled');
}

/** The seeds the coordinator holds so far for one sum participant: the transpose of the Updates received. */
function seedsSoFar(coordinator: FakeCoordinator, sumPk: string): Map<string, Uint8Array> {
  const seeds = new Map<string, Uint8Array>();
  for (const { participantPk, payload } of coordinator.received) {
    if (payload.kind !== 'update') continue;
    const box = payload.update.localSeedDict.get(sumPk);
    if (box !== undefined) seeds.set(toBase64Url(participantPk), box);
  }
  return seeds;
}

/** A round with 2 sum participants — `early` reading seeds so far, `late` not — and 3 updates. */
async function round(soFar: (coordinator: FakeCoordinator, pk: string) => SeedsSoFar | undefined) {
  const coordinator = new FakeCoordinator(crypto);
  const params = coordinator.startRound({
    sumProbability: 0.5,
    updateProbability: 1,
    seed: new Uint8Array(32).fill(42),
    modelLength: 32,
  });
  const [earlyId, lateId] = identitiesFor(params, 'sum', 2) as [Uint8Array, Uint8Array];
  const early = sumParticipant(coordinator, earlyId, (pk) => soFar(coordinator, pk));
  const late = sumParticipant(coordinator, lateId);
  const updates = identitiesFor(params, 'update', 3).map((id, u) => updateParticipant(coordinator, id, u));
  for (const p of [early, late, ...updates]) await settle(p);
  expect(early.state.phase.kind).toBe('sum2');
  coordinator.publishSums();
  return { coordinator, early, late, updates };
}

describe('sum2: seeds so far (ADR 0017)', () => {
  it('derives the seeds so far during the update phase and only the rest at the end; the same Sum2', async () => {
    let phaseEnded = false;
    const { coordinator, early, late, updates } = await round((c, pk) =>
      phaseEnded ? { seeds: c.seeds?.get(pk) ?? new Map(), final: true } : { seeds: seedsSoFar(c, pk), final: false },
    );
    // an empty dictionary so far: nothing to derive, still waiting
    await settle(early);
    expect(early.state.phase.kind).toBe('sum2');
    expect(early.opened).toBe(0);
    for (const [i, u] of updates.entries()) {
      await settle(u);
      await settle(early);
      expect(early.state.phase.kind).toBe('sum2');
      expect(early.opened).toBe(i + 1); // each seed opened once, as it came
    }
    coordinator.publishSeeds();
    phaseEnded = true;
    await settle(early);
    await settle(late);
    expect(early.opened).toBe(3); // nothing left to derive at the end
    expect(late.opened).toBe(3);
    const [a, b] = coordinator.payloads('sum2');
    expect(a?.sum2.aggregatedMask).toStrictEqual(b?.sum2.aggregatedMask);
    expect(a?.sum2.rejectedSeeds).toEqual([]);
  });

  it('drops early work the final dictionary does not hold byte for byte, and derives it all again', async () => {
    let phaseEnded = false;
    const { coordinator, early, late, updates } = await round((c, pk) => {
      if (phaseEnded) return { seeds: c.seeds?.get(pk) ?? new Map(), final: true };
      // a coordinator that shows a garbage box for the first update first, then the real one
      const seeds = seedsSoFar(c, pk);
      for (const [key, box] of seeds)
        seeds.set(
          key,
          box.map((byte) => byte ^ 1),
        );
      return { seeds, final: false };
    });
    await settle(updates[0] as Participant);
    await settle(early);
    expect(early.opened).toBe(1); // opened, did not open: a rejected seed, for now
    for (const u of updates.slice(1)) await settle(u);
    coordinator.publishSeeds();
    phaseEnded = true;
    await settle(early);
    await settle(late);
    expect(early.opened).toBe(4); // 1 early, then all 3 again
    const [a, b] = coordinator.payloads('sum2');
    expect(a?.sum2.aggregatedMask).toStrictEqual(b?.sum2.aggregatedMask);
    expect(a?.sum2.rejectedSeeds).toEqual([]);
  });

  it('a restored state knows nothing of the early work: it derives every seed once the phase ends', async () => {
    let phaseEnded = false;
    const { coordinator, early, late, updates } = await round((c, pk) =>
      phaseEnded ? { seeds: c.seeds?.get(pk) ?? new Map(), final: true } : { seeds: seedsSoFar(c, pk), final: false },
    );
    for (const u of updates) await settle(u);
    await settle(early);
    expect(early.opened).toBe(3);
    early.state = structuredClone(early.state); // as after a save and a restart
    coordinator.publishSeeds();
    phaseEnded = true;
    await settle(early);
    await settle(late);
    expect(early.opened).toBe(6);
    const [a, b] = coordinator.payloads('sum2');
    expect(a?.sum2.aggregatedMask).toStrictEqual(b?.sum2.aggregatedMask);
  });
});
