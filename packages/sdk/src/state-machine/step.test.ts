/**
 * The participant protocol engine against a fake coordinator that does the coordinator's crypto
 * for real (test-support/fake-coordinator.ts): task selection (protocol.md §2), the Sum, Update
 * and Sum2 messages (§3.3–3.5) checked by opening, unmasking and comparing with the models
 * (§4.4–4.5), and the error paths. Every step's state is structured-cloned and the clone is
 * what the next step runs on, so each test is also a save/restore test (architecture.md §7.4).
 */

import {
  Aggregation,
  deriveMask,
  initCrypto,
  type PetCrypto,
  PetError,
  type RoundParameters,
  toBase64Url,
  verifyTaskSignature,
} from '@petfl/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { FakeCoordinator, TEST_MASK_CONFIG } from '../../test-support/fake-coordinator.ts';
import { identitiesFor as identitiesOf } from '../../test-support/identities.ts';
import { CoordinatorRejectedError, CoordinatorUnavailableError } from '../client/coordinator-client.ts';
import type { StepIo } from './io.ts';
import { createInitialState, type ParticipantState, type Phase } from './state.ts';
import { type StepResult, step } from './step.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

interface Participant {
  state: ParticipantState;
  io: StepIo;
  model: number[] | undefined;
}

function participant(
  coordinator: FakeCoordinator,
  options: { identitySeed?: Uint8Array; scalar?: number; model?: number[]; maxChunkData?: number } = {},
): Participant {
  const p: Participant = {
    state: createInitialState(crypto, {
      ...(options.identitySeed === undefined ? {} : { identitySeed: options.identitySeed }),
      ...(options.scalar === undefined ? {} : { scalar: options.scalar }),
    }),
    model: options.model,
    io: {
      crypto,
      client: coordinator,
      localModel: () => p.model,
      ...(options.maxChunkData === undefined ? {} : { maxChunkData: options.maxChunkData }),
    },
  };
  return p;
}

/** One step; the next one runs on a structured clone of the result, as after a save and restore. */
async function stepRestored(p: Participant): Promise<StepResult> {
  const result = await step(p.state, p.io);
  const restored = structuredClone(result.state);
  expect(restored).toStrictEqual(result.state);
  p.state = restored;
  return result;
}

/** Steps until a 'pending' step; returns the phases passed through. */
async function settle(p: Participant): Promise<Phase['kind'][]> {
  const phases: Phase['kind'][] = [];
  for (let i = 0; i < 1000; i++) {
    const result = await stepRestored(p);
    if (result.kind === 'pending') return phases;
    phases.push(p.state.phase.kind);
  }
  throw new Error('the participant never settled');
}

/** Identity seeds whose task in `round` is the one wanted. */
const identitiesFor = (round: RoundParameters, task: 'sum' | 'update' | 'none', count: number): Uint8Array[] =>
  identitiesOf(crypto, round, task, count);

const isZero = (bytes: Uint8Array): boolean => bytes.every((b) => b === 0);

function phaseOf<K extends Phase['kind']>(state: ParticipantState, kind: K): Extract<Phase, { kind: K }> {
  expect(state.phase.kind).toBe(kind);
  return state.phase as Extract<Phase, { kind: K }>;
}

describe('step: rounds and task selection (protocol.md §1.1, §2)', () => {
  it('waits while no round has started (204), changing nothing', async () => {
    const coordinator = new FakeCoordinator(crypto);
    const p = participant(coordinator);
    const before = p.state;
    const result = await step(before, p.io);
    expect(result).toStrictEqual({ kind: 'pending', state: before, awaits: 'phase' }); // a round to start
    expect(result.state).toBe(before);
    expect(coordinator.calls.model).toBe(0);
  });

  it('sum probability 1: a sum participant sends a valid Sum and waits in sum2', async () => {
    const coordinator = new FakeCoordinator(crypto);
    const round = coordinator.startRound({ sumProbability: 1, updateProbability: 1 });
    const p = participant(coordinator);

    expect((await stepRestored(p)).kind).toBe('complete');
    expect(p.state.round?.roundId).toBe(round.roundId);
    const { ephemeral, sumSignature } = phaseOf(p.state, 'sum');
    expect(ephemeral.publicKey).toHaveLength(32);
    expect(ephemeral.secretKey).toHaveLength(32);

    await stepRestored(p);
    const sending = phaseOf(p.state, 'sending');
    expect(sending).toMatchObject({ tag: 'sum', next: 0, after: { kind: 'sum2', ephemeral } });
    expect(sending).toMatchObject({ messageId: undefined }); // one message
    expect(sending.payload).toHaveLength(96); // protocol.md §3.3
    expect(coordinator.calls.post).toBe(0);

    await stepRestored(p);
    expect(phaseOf(p.state, 'sum2').ephemeral).toStrictEqual(ephemeral);
    expect(coordinator.posts.map((post) => post.sealedBytes)).toEqual([136 + 96 + 48]); // 280 bytes sealed
    const [received] = coordinator.received;
    expect(received?.participantPk).toStrictEqual(p.state.identity.publicKey);
    expect(received?.payload).toStrictEqual({ kind: 'sum', sum: { sumSignature, ephemeralPk: ephemeral.publicKey } });
    expect(verifyTaskSignature(crypto, round.seed, 'sum', sumSignature, p.state.identity.publicKey, 1)).toBe(true);

    expect(await stepRestored(p)).toMatchObject({ kind: 'pending', awaits: 'phase' }); // the seed dictionary is not published yet
  });

  it('a forced update task (sum 1e-9, update 1) carries signatures the coordinator accepts', async () => {
    const coordinator = new FakeCoordinator(crypto);
    const round = coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1 });
    const p = participant(coordinator);
    await stepRestored(p);
    const { sumSignature, updateSignature } = phaseOf(p.state, 'update');
    const pk = p.state.identity.publicKey;
    // protocol.md §2: an Update proves "not eligible for sum" and "eligible for update"
    expect(crypto.verify(sumSignature, new Uint8Array([...round.seed, 0x73, 0x75, 0x6d]), pk)).toBe(true);
    expect(verifyTaskSignature(crypto, round.seed, 'sum', sumSignature, pk, round.sumProbability)).toBe(false);
    expect(verifyTaskSignature(crypto, round.seed, 'update', updateSignature, pk, 1)).toBe(true);
  });

  it('no task (both probabilities tiny): awaits, then stays pending', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1e-9 });
    const p = participant(coordinator);
    expect(await settle(p)).toEqual(['awaiting']);
    const before = p.state;
    expect(await step(before, p.io)).toStrictEqual({ kind: 'pending', state: before, awaits: 'phase' }); // its round's end
    expect(coordinator.calls.post).toBe(0);
  });

  it('restoring a state gives the same identity, round and phase', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound();
    const p = participant(coordinator, { identitySeed: new Uint8Array(32).fill(9) });
    await stepRestored(p);
    await stepRestored(p);
    const restored = structuredClone(p.state);
    expect(restored.identity).toStrictEqual(crypto.signingKeyPair(new Uint8Array(32).fill(9)));
    expect(restored.round).toStrictEqual(coordinator.params);
    expect(restored.phase).toStrictEqual(p.state.phase);
    // the restored copy carries on exactly where the original was
    const q: Participant = { ...p, state: restored };
    expect(await settle(q)).toEqual(['sum2']);
    expect(coordinator.received).toHaveLength(1);
  });
});

describe('step: one whole round (protocol.md §1.1, §3.3–3.5, §4.4–4.5)', () => {
  for (const maxChunkData of [undefined, 64]) {
    it(`2 sum and 3 update participants: the Sum2 mask unmasks Σ sᵢwᵢ / Σ sᵢ (maxChunkData ${maxChunkData ?? 'default'})`, async () => {
      const coordinator = new FakeCoordinator(crypto);
      const round = coordinator.startRound({
        sumProbability: 0.5,
        updateProbability: 1,
        seed: new Uint8Array(32).fill(42),
        modelLength: 10,
      });
      const chunking = maxChunkData === undefined ? {} : { maxChunkData };
      const sums = identitiesFor(round, 'sum', 2).map((identitySeed) =>
        participant(coordinator, { identitySeed, ...chunking }),
      );
      const models = [0, 1, 2].map((u) => Array.from({ length: 10 }, (_, i) => Math.sin(u * 10 + i) * 0.9));
      const scalars = [1, 0.5, 0.25]; // ≤ A = 1: under bound b0 the scalar is clamped like a weight (protocol.md §4.6)
      const updates = identitiesFor(round, 'update', 3).map((identitySeed, u) =>
        participant(coordinator, {
          identitySeed,
          scalar: scalars[u] as number,
          model: models[u] as number[],
          ...chunking,
        }),
      );

      // sum phase: sum participants send their Sum; update participants wait for the sum dictionary
      for (const s of sums) expect((await settle(s)).at(-1)).toBe('sum2');
      for (const u of updates) expect(await settle(u)).toEqual(['update']);
      expect(coordinator.payloads('sum')).toHaveLength(2);
      const sumDict = coordinator.publishSums();

      // update phase
      for (const u of updates) expect((await settle(u)).at(-1)).toBe('awaiting');
      const updatePayloads = coordinator.payloads('update');
      expect(updatePayloads).toHaveLength(3);
      if (maxChunkData !== undefined)
        expect(coordinator.posts.filter((x) => x.tag === 'update').length).toBeGreaterThan(9);

      // each Update's local seed dictionary: one seed per sum participant, opened with its ephemeral
      // key, deriving the mask that unmasks that single masked model back to the model
      const seedBoxKeys = new Set<string>();
      for (const { participantPk, payload } of coordinator.received) {
        if (payload.kind !== 'update') continue;
        const { update } = payload;
        const model =
          models[updates.findIndex((x) => toBase64Url(x.state.identity.publicKey) === toBase64Url(participantPk))];
        expect([...update.localSeedDict.keys()].sort()).toEqual([...sumDict.keys()].sort());
        const opened = sums.map((s) => {
          const { ephemeral } = phaseOf(s.state, 'sum2');
          const sealed = update.localSeedDict.get(toBase64Url(s.state.identity.publicKey));
          expect(sealed).toHaveLength(80);
          return crypto.openSealed(sealed as Uint8Array, ephemeral);
        });
        expect(opened[1]).toStrictEqual(opened[0]);
        // ADR 0016: the boxes of one dictionary share their ephemeral key, a fresh one per Update
        const ephemeralKeys = [...update.localSeedDict.values()].map((box) => toBase64Url(box.subarray(0, 32)));
        expect(new Set(ephemeralKeys).size).toBe(1);
        seedBoxKeys.add(ephemeralKeys[0] as string);
        const single = new Aggregation(round.maskConfig, round.modelLength);
        single.aggregate(update.maskedModel);
        const unmasked = single.unmask(deriveMask(crypto, round.maskConfig, opened[0] as Uint8Array, 10));
        for (const [i, w] of unmasked.entries()) expect(w).toBeCloseTo(model?.[i] as number, 7);
      }
      expect(seedBoxKeys.size).toBe(3);

      // sum2 phase
      coordinator.publishSeeds();
      for (const s of sums) {
        const before = s.state;
        const { ephemeral } = phaseOf(before, 'sum2');
        await stepRestored(s);
        expect(phaseOf(s.state, 'sending').tag).toBe('sum2');
        // SECURITY: the ephemeral secret key is wiped as soon as the Sum2 is sealed
        expect(isZero(ephemeral.secretKey)).toBe(true);
        expect(JSON.stringify(s.state)).not.toContain('ephemeral');
        expect((await settle(s)).at(-1)).toBe('awaiting');
      }
      const [first, second] = coordinator.payloads('sum2');
      expect(second?.sum2.aggregatedMask).toStrictEqual(first?.sum2.aggregatedMask);

      // the coordinator's unmask: aggregate every masked model, subtract the aggregated mask
      const aggregate = new Aggregation(round.maskConfig, round.modelLength);
      for (const { update } of updatePayloads) aggregate.aggregate(update.maskedModel);
      const global = aggregate.unmask(first?.sum2.aggregatedMask ?? aggregate.toMaskObject());
      const scalarSum = scalars.reduce((a, b) => a + b, 0);
      for (let i = 0; i < 10; i++) {
        const expected = models.reduce((acc, m, u) => acc + (scalars[u] as number) * (m[i] as number), 0) / scalarSum;
        expect(global[i]).toBeCloseTo(expected, 7);
      }
    });
  }

  it('an update participant waits for the sum dictionary, then for its local model', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1, modelLength: 3 });
    const rounds: number[] = [];
    const p = participant(coordinator);
    p.io = {
      ...p.io,
      localModel: (roundId) => {
        rounds.push(roundId);
        return p.model;
      },
    };
    expect(await settle(p)).toEqual(['update']);
    expect(rounds).toEqual([]); // the model is asked for only once the sum dictionary is there

    coordinator.sums = new Map([[toBase64Url(new Uint8Array(32).fill(1)), crypto.encryptKeyPair().publicKey]]);
    expect(await settle(p)).toEqual([]);
    expect(await settle(p)).toEqual([]);
    expect(rounds).toEqual([1, 1]);

    p.model = [0.1, 0.2, 0.3];
    expect(await settle(p)).toEqual(['sending', 'awaiting']);
    expect(coordinator.payloads('update')).toHaveLength(1);
  });

  it('a model ready after the update phase closed is not masked or sent: awaiting, update-too-late', async () => {
    const looks: [string, number][] = [];
    const outcomes: [string, (string | undefined)[], number][] = [];
    const answers: Record<string, () => Promise<string | undefined>> = {
      closed: async () => '1.sum2',
      'next round': async () => '2.sum',
      open: async () => '1.update',
      'between rounds': async () => '-.idle',
      'shutting down (a restart continues the round)': async () => '1.shutdown',
      'no long polls (404)': async () => undefined,
      'look failed': () => Promise.reject(new CoordinatorUnavailableError('GET /phase: network error')),
    };
    for (const [what, answer] of Object.entries(answers)) {
      const coordinator = new FakeCoordinator(crypto);
      coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1, modelLength: 3 });
      coordinator.sums = new Map([[toBase64Url(new Uint8Array(32).fill(1)), crypto.encryptKeyPair().publicKey]]);
      const p = participant(coordinator, { model: [0.1, 0.2, 0.3] });
      p.io = {
        ...p.io,
        client: coordinator.with({
          waitForPhaseChange: (after, waitMs) => {
            looks.push([after, waitMs]);
            return answer();
          },
        }),
      };
      const phases = await settle(p);
      outcomes.push([what, [...phases, p.state.lastError?.code], coordinator.payloads('update').length]);
    }
    expect(outcomes).toEqual([
      ['closed', ['update', 'awaiting', 'update-too-late'], 0],
      ['next round', ['update', 'awaiting', 'update-too-late'], 0],
      ['open', ['update', 'sending', 'awaiting', undefined], 1],
      ['between rounds', ['update', 'awaiting', 'update-too-late'], 0],
      ['shutting down (a restart continues the round)', ['update', 'sending', 'awaiting', undefined], 1],
      ['no long polls (404)', ['update', 'sending', 'awaiting', undefined], 1],
      ['look failed', ['update', 'sending', 'awaiting', undefined], 1],
    ]);
    expect(looks.every(([after, waitMs]) => after === '' && waitMs === 0)).toBe(true); // a look, never a wait
  });

  it('a local model of null sits the round out: awaiting, nothing sent, no error', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1, modelLength: 3 });
    coordinator.sums = new Map();
    const p = participant(coordinator);
    p.io = { ...p.io, localModel: () => null };
    expect(await settle(p)).toEqual(['update', 'awaiting']);
    expect(p.state.lastError).toBeUndefined();
    expect(coordinator.calls.post).toBe(0);
  });

  it('a Sum2 is chunked when it exceeds maxChunkData', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ modelLength: 40 });
    const p = participant(coordinator, { maxChunkData: 100 });
    await settle(p);
    coordinator.publishSums();
    coordinator.publishSeeds(); // no update participant: the aggregated mask of nothing
    expect((await settle(p)).at(-1)).toBe('awaiting');
    const chunks = coordinator.posts.filter((x) => x.tag === 'sum2').map((x) => x.chunkIndex);
    expect(chunks).toEqual([0, 1, 2, 3]); // the payload (40 packed weights and a scalar, protocol.md §3.6) in chunks of 100 bytes
    expect(coordinator.payloads('sum2')[0]?.sum2.aggregatedMask.length).toBe(40);
  });
});

describe('step: failures become state', () => {
  async function sumParticipantBeforePost(): Promise<{ coordinator: FakeCoordinator; p: Participant }> {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound();
    const p = participant(coordinator);
    await stepRestored(p);
    await stepRestored(p);
    phaseOf(p.state, 'sending');
    return { coordinator, p };
  }

  it('a refused message: awaiting, lastError {code, message, roundId}, ephemeral key wiped', async () => {
    const { coordinator, p } = await sumParticipantBeforePost();
    coordinator.failPost = () => new CoordinatorRejectedError(409, 'phase-full', 'sum phase: count.max reached');
    const before = p.state;
    const secret = (before.phase as Extract<Phase, { kind: 'sending' }>).after;
    expect((await stepRestored(p)).kind).toBe('complete');
    expect(p.state.phase).toStrictEqual({ kind: 'awaiting' });
    expect(p.state.lastError).toStrictEqual({
      code: 'phase-full',
      message: 'sum phase: count.max reached',
      roundId: 1,
    });
    expect(secret.kind === 'sum2' && isZero(secret.ephemeral.secretKey)).toBe(true);
    expect((await stepRestored(p)).kind).toBe('pending');
  });

  it('a transient failure keeps the message: pending, the same state, posted again later', async () => {
    const { coordinator, p } = await sumParticipantBeforePost();
    coordinator.failPost = (n) => (n === 0 ? new CoordinatorUnavailableError('down', { status: 503 }) : undefined);
    const before = p.state;
    expect(await step(before, p.io)).toStrictEqual({ kind: 'pending', state: before });
    expect(coordinator.received).toHaveLength(0);
    expect(await settle(p)).toEqual(['sum2']);
    expect(coordinator.received).toHaveLength(1);
    expect(p.state.lastError).toBeUndefined();
  });

  it("'duplicate-message' means the coordinator already holds it: on to the next phase", async () => {
    const { coordinator, p } = await sumParticipantBeforePost();
    const saved = structuredClone(p.state);
    await stepRestored(p); // accepted, but say the process died before saving that
    p.state = saved;
    expect(await settle(p)).toEqual(['sum2']);
    expect(p.state.lastError).toBeUndefined();
    expect(coordinator.received).toHaveLength(1);
    expect(coordinator.calls.post).toBe(2);
  });

  it("sum2 for a participant missing from the sum dictionary: 'unknown-sum-participant', awaiting", async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound();
    const p = participant(coordinator);
    await settle(p);
    const { ephemeral } = phaseOf(p.state, 'sum2');
    coordinator.seeds = new Map();
    expect(await settle(p)).toEqual(['awaiting']);
    expect(p.state.lastError).toMatchObject({ code: 'unknown-sum-participant', roundId: 1 });
    expect(isZero(ephemeral.secretKey)).toBe(true);
  });

  it('an update seed dictionary of one sum participant that is not its own key: decrypt-failed is a rejected seed', async () => {
    // (Only this participant's own ephemeral key can open a seed: the whole column sealed to
    // another key means every update participant is named, and the mask is that of nothing.)
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound();
    const p = participant(coordinator);
    await settle(p);
    const pk = toBase64Url(p.state.identity.publicKey);
    coordinator.seeds = new Map([
      [pk, new Map([[pk, crypto.seal(new Uint8Array(32), crypto.encryptKeyPair().publicKey)]])],
    ]);
    expect(await settle(p)).toEqual(['sending', 'awaiting']);
    expect(p.state.lastError).toBeUndefined();
    const [sent] = coordinator.payloads('sum2');
    expect(sent?.sum2.rejectedSeeds).toStrictEqual([p.state.identity.publicKey]);
    expect(sent?.sum2.aggregatedMask).toStrictEqual(new Aggregation(TEST_MASK_CONFIG, 4).toMaskObject());
  });

  it('local model problems: wrong length, NaN, a throwing callback', async () => {
    const cases: [StepIo['localModel'], string][] = [
      [() => [1, 2], 'model-length-mismatch'],
      [() => [0.5, Number.NaN, 0.5], 'invalid-model-value'],
      [
        () => {
          throw new Error('training failed');
        },
        'callback-failed',
      ],
      [() => Promise.reject(new Error('async training failed')), 'callback-failed'],
    ];
    for (const [localModel, code] of cases) {
      const coordinator = new FakeCoordinator(crypto);
      coordinator.startRound({ sumProbability: 1e-9, modelLength: 3 });
      coordinator.sums = new Map();
      const p = participant(coordinator);
      p.io = { ...p.io, localModel };
      expect(await settle(p)).toEqual(['update', 'awaiting']);
      expect(p.state.lastError).toMatchObject({ code, roundId: 1 });
      expect(coordinator.calls.post).toBe(0);
    }
  });

  it('a new round mid-phase restarts at new-round and drops the stale in-flight message', async () => {
    const { coordinator, p } = await sumParticipantBeforePost();
    const old = p.state;
    const oldSecret = (old.phase as Extract<Phase, { kind: 'sending' }>).after;
    coordinator.startRound({ sumProbability: 1e-9 });
    expect((await step(old, p.io)).state).toMatchObject({ round: { roundId: 2 }, phase: { kind: 'update' } });
    expect(coordinator.calls.post).toBe(0);
    // SECURITY: the old round's ephemeral secret key is wiped
    expect(oldSecret.kind === 'sum2' && isZero(oldSecret.ephemeral.secretKey)).toBe(true);
  });

  it('the same round id under a new round key (a restarted coordinator) is a new round too', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound();
    const p = participant(coordinator);
    await settle(p);
    const first = coordinator.params as RoundParameters;
    coordinator.startRound();
    coordinator.params = { ...(coordinator.params as RoundParameters), roundId: first.roundId };
    expect((await stepRestored(p)).state.phase.kind).toBe('sum');
    expect(p.state.round?.coordinatorPk).toStrictEqual(coordinator.params.coordinatorPk);
  });

  it('a coordinator that cannot be reached for /params: pending', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound();
    const p = participant(coordinator);
    p.io = {
      ...p.io,
      client: coordinator.with({ getParams: () => Promise.reject(new CoordinatorUnavailableError('offline')) }),
    };
    const before = p.state;
    expect(await step(before, p.io)).toStrictEqual({ kind: 'pending', state: before });
  });
});

describe('step: right after a completed step, a step runs without reading /params first', () => {
  /** A sum participant whose Sum2 (40 weights) goes out in 4 chunks of 100 bytes, at the first of them. */
  async function chunkedSum2(): Promise<{ coordinator: FakeCoordinator; p: Participant }> {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ modelLength: 40 });
    const p = participant(coordinator, { maxChunkData: 100 });
    await settle(p);
    coordinator.publishSums();
    coordinator.publishSeeds();
    expect((await stepRestored(p)).kind).toBe('complete'); // sum2: the aggregated mask, into sending
    phaseOf(p.state, 'sending');
    return { coordinator, p };
  }

  /**
   * Steps as the run loop does — `roundJustRead` after every completed step (the first step as
   * given) — on a structured clone of each result, until a pending step; returns the phases.
   */
  async function runBurst(p: Participant, roundJustRead: boolean): Promise<Phase['kind'][]> {
    const phases: Phase['kind'][] = [];
    let justRead = roundJustRead;
    for (let i = 0; i < 100; i++) {
      const result = await step(p.state, p.io, { roundJustRead: justRead });
      p.state = structuredClone(result.state);
      if (result.kind === 'pending') return phases;
      phases.push(p.state.phase.kind);
      justRead = true;
    }
    throw new Error('the participant never settled');
  }

  it('a message of 4 chunks and the awaiting after it: no read at all, and the message arrives whole', async () => {
    const { coordinator, p } = await chunkedSum2();
    const params = coordinator.calls.params;
    expect(await runBurst(p, true)).toEqual(['sending', 'sending', 'sending', 'awaiting']);
    expect(coordinator.posts.filter((x) => x.tag === 'sum2').map((x) => x.chunkIndex)).toEqual([0, 1, 2, 3]);
    expect(coordinator.payloads('sum2')).toHaveLength(1);
    expect(coordinator.calls.params - params).toBe(0);
  });

  it('a round start reads once: new round, the task, its message, the next phase', async () => {
    const coordinator = new FakeCoordinator(crypto);
    const round = coordinator.startRound({ sumProbability: 0.5, modelLength: 4 });
    const [sumSeed] = identitiesFor(round, 'sum', 1);
    const [updateSeed] = identitiesFor(round, 'update', 1);
    const sumP = participant(coordinator, { identitySeed: sumSeed as Uint8Array });
    let before = coordinator.calls.params;
    expect(await runBurst(sumP, false)).toEqual(['sum', 'sending', 'sum2']); // sum2 waits for the seeds
    expect(coordinator.calls.params - before).toBe(1);
    expect(coordinator.payloads('sum')).toHaveLength(1);

    const updateP = participant(coordinator, { identitySeed: updateSeed as Uint8Array, model: [0.5, 0.5, 0.5, 0.5] });
    before = coordinator.calls.params;
    expect(await runBurst(updateP, false)).toEqual(['update']); // the sum dictionary is not out yet
    expect(coordinator.calls.params - before).toBe(1);
    coordinator.publishSums();
    before = coordinator.calls.params;
    expect(await runBurst(updateP, false)).toEqual(['sending', 'awaiting']); // after the wait: read once
    expect(coordinator.calls.params - before).toBe(1);
    expect(coordinator.payloads('update')).toHaveLength(1);
  });

  it('without roundJustRead (a first step, or one after a wait) every step reads /params first', async () => {
    const { coordinator, p } = await chunkedSum2();
    const before = coordinator.calls.params;
    for (let i = 0; i < 5; i++) await stepRestored(p); // no option: as after a restart or a wait
    expect(p.state.phase).toStrictEqual({ kind: 'awaiting' });
    expect(coordinator.calls.params - before).toBe(5);
  });

  it('a post refused because the round ended (wrong-round) enters the new round quietly, posting nothing again', async () => {
    // A sum participant about to post its Sum: the phase after it holds the ephemeral key pair.
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound();
    const p = participant(coordinator);
    await stepRestored(p);
    await stepRestored(p);
    const secret = phaseOf(p.state, 'sending').after;
    coordinator.startRound({ sumProbability: 1e-9 }); // a new round key: the old one's message cannot be opened
    coordinator.failPost = () =>
      new CoordinatorRejectedError(409, 'wrong-round', 'message of round 1, which has ended');
    const posts = coordinator.calls.post;
    const result = await step(p.state, p.io, { roundJustRead: true });
    expect(result.state).toMatchObject({ round: { roundId: 2 }, phase: { kind: 'update' } });
    expect(result.state.lastError).toBeUndefined();
    expect(coordinator.calls.post - posts).toBe(1);
    // SECURITY: the old round's ephemeral secret key is wiped, as on any move to a new round
    expect(secret.kind === 'sum2' && isZero(secret.ephemeral.secretKey)).toBe(true);
  });

  it("a post refused in the same round is that step's outcome, as after a read: awaiting, lastError, no second post", async () => {
    const { coordinator, p } = await chunkedSum2();
    coordinator.failPost = () => new CoordinatorRejectedError(409, 'phase-full', 'sum2 phase: count.max reached');
    const posts = coordinator.calls.post;
    const params = coordinator.calls.params;
    const result = await step(p.state, p.io, { roundJustRead: true });
    expect(result.kind).toBe('complete');
    expect(result.state.phase).toStrictEqual({ kind: 'awaiting' });
    expect(result.state.lastError).toStrictEqual({
      code: 'phase-full',
      message: 'sum2 phase: count.max reached',
      roundId: 1,
    });
    expect(coordinator.calls.post - posts).toBe(1);
    expect(coordinator.calls.params - params).toBe(1);
  });

  it('a transient failure of the post: pending, the same state; /params unreachable then too: pending', async () => {
    const { coordinator, p } = await chunkedSum2();
    coordinator.failPost = () => new CoordinatorUnavailableError('down', { status: 503 });
    const before = p.state;
    expect(await step(before, p.io, { roundJustRead: true })).toStrictEqual({ kind: 'pending', state: before });
    p.io = {
      ...p.io,
      client: coordinator.with({ getParams: () => Promise.reject(new CoordinatorUnavailableError('offline')) }),
    };
    expect(await step(before, p.io, { roundJustRead: true })).toStrictEqual({ kind: 'pending', state: before });
    coordinator.failPost = undefined;
    p.io = { ...p.io, client: coordinator };
    expect(await runBurst(p, true)).toEqual(['sending', 'sending', 'sending', 'awaiting']);
    expect(coordinator.payloads('sum2')).toHaveLength(1);
  });
});

describe('step: hostile update participants and sum dictionaries (protocol.md §3.5, §5.1)', () => {
  /** One sum and `updates` honest update participants through the update phase. */
  async function roundUntilSum2(updates: number) {
    const coordinator = new FakeCoordinator(crypto);
    const round = coordinator.startRound({
      sumProbability: 0.5,
      updateProbability: 1,
      seed: new Uint8Array(32).fill(42),
      modelLength: 10,
    });
    const [sumSeed] = identitiesFor(round, 'sum', 1);
    const s = participant(coordinator, { identitySeed: sumSeed as Uint8Array });
    const models = Array.from({ length: updates }, (_, u) =>
      Array.from({ length: 10 }, (_, i) => Math.cos(u * 7 + i) * 0.9),
    );
    const honest = identitiesFor(round, 'update', updates).map((identitySeed, u) =>
      participant(coordinator, { identitySeed, model: models[u] as number[] }),
    );
    expect((await settle(s)).at(-1)).toBe('sum2');
    for (const u of honest) await settle(u);
    coordinator.publishSums();
    for (const u of honest) expect((await settle(u)).at(-1)).toBe('awaiting');
    const column = coordinator.publishSeeds().get(toBase64Url(s.state.identity.publicKey));
    if (column === undefined) throw new Error('no column for the sum participant');
    return { coordinator, round, s, models, column };
  }

  /** The coordinator's unmask of the honest updates with the Sum2's aggregated mask (§4.5). */
  function unmaskHonest(coordinator: FakeCoordinator, round: RoundParameters): Float64Array {
    const [sent] = coordinator.payloads('sum2');
    if (sent === undefined) throw new Error('no Sum2 arrived');
    const aggregate = new Aggregation(round.maskConfig, round.modelLength);
    for (const { update } of coordinator.payloads('update')) aggregate.aggregate(update.maskedModel);
    return aggregate.unmask(sent.sum2.aggregatedMask);
  }

  const pkOf = (n: number): Uint8Array => crypto.signingKeyPair(new Uint8Array(32).fill(200 + n)).publicKey;
  const sortedBytes = (keys: Uint8Array[]): Uint8Array[] => [...keys].sort((a, b) => Buffer.compare(a, b));

  it('one garbage seed among 3 honest ones: the Sum2 mask is the honest masks’ sum, rejectedSeeds names the sender', async () => {
    const { coordinator, round, s, models, column } = await roundUntilSum2(3);
    const honestSeeds = [...column.values()];
    expect(honestSeeds).toHaveLength(3);
    // SECURITY (test only): a copy of the ephemeral key, which the step wipes once the Sum2 is sealed
    const { ephemeral } = phaseOf(s.state, 'sum2');
    const keyCopy = { publicKey: ephemeral.publicKey.slice(), secretKey: ephemeral.secretKey.slice() };
    const bad = pkOf(1);
    column.set(toBase64Url(bad), crypto.randomBytes(80)); // not a sealed box at all

    expect(await settle(s)).toEqual(['sending', 'awaiting']);
    expect(s.state.lastError).toBeUndefined();
    const [sent] = coordinator.payloads('sum2');
    expect(sent?.sum2.rejectedSeeds).toStrictEqual([bad]);

    // the mask equals the sum of the honest masks, derived from the seeds the test opens itself
    const honestMasks = new Aggregation(round.maskConfig, round.modelLength);
    for (const sealed of honestSeeds) {
      honestMasks.aggregate(deriveMask(crypto, round.maskConfig, crypto.openSealed(sealed, keyCopy), 10));
    }
    expect(sent?.sum2.aggregatedMask).toStrictEqual(honestMasks.toMaskObject());
    // and it unmasks the honest updates (§4.5)
    const global = unmaskHonest(coordinator, round);
    for (let i = 0; i < 10; i++) {
      const expected = models.reduce((acc, m) => acc + (m[i] as number), 0) / models.length;
      expect(global[i]).toBeCloseTo(expected, 7);
    }
  });

  it('every kind of bad seed is skipped and named, sorted: no box, another key’s box, a box of 16 bytes', async () => {
    const { coordinator, round, s, models, column } = await roundUntilSum2(3);
    const sum2Phase = phaseOf(s.state, 'sum2');
    const bad = [pkOf(2), pkOf(3), pkOf(4)];
    column.set(toBase64Url(bad[0] as Uint8Array), new Uint8Array(47)); // shorter than a sealed box
    column.set(toBase64Url(bad[1] as Uint8Array), crypto.seal(new Uint8Array(32), crypto.encryptKeyPair().publicKey));
    // opens with this participant's ephemeral key, but to 16 bytes: not a mask seed
    column.set(
      toBase64Url(bad[2] as Uint8Array),
      crypto.seal(new Uint8Array(16).fill(1), sum2Phase.ephemeral.publicKey),
    );

    expect(await settle(s)).toEqual(['sending', 'awaiting']);
    const [sent] = coordinator.payloads('sum2');
    expect(sent?.sum2.rejectedSeeds).toStrictEqual(sortedBytes(bad));
    const global = unmaskHonest(coordinator, round);
    for (let i = 0; i < 10; i++) {
      const expected = models.reduce((acc, m) => acc + (m[i] as number), 0) / models.length;
      expect(global[i]).toBeCloseTo(expected, 7);
    }
    // SECURITY: the ephemeral secret key is wiped all the same
    expect(isZero(sum2Phase.ephemeral.secretKey)).toBe(true);
  });

  it('a sum dictionary with an all-zero, small-order or non-canonical ephemeral key: invalid-key, awaiting, nothing sent', async () => {
    const one = new Uint8Array(32);
    one[0] = 1;
    const topBit = crypto.encryptKeyPair().publicKey;
    topBit[31] = (topBit[31] as number) | 0x80;
    for (const hostile of [new Uint8Array(32), one, topBit]) {
      const coordinator = new FakeCoordinator(crypto);
      coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1, modelLength: 3 });
      const hostilePk = toBase64Url(new Uint8Array(32).fill(7));
      coordinator.sums = new Map([
        [toBase64Url(new Uint8Array(32).fill(1)), crypto.encryptKeyPair().publicKey],
        [hostilePk, hostile],
      ]);
      let asked = 0;
      const p = participant(coordinator, { model: [0.1, 0.2, 0.3] });
      p.io = {
        ...p.io,
        localModel: () => {
          asked++;
          return [0.1, 0.2, 0.3];
        },
      };
      expect(await settle(p)).toEqual(['update', 'awaiting']);
      expect(p.state.lastError).toMatchObject({ code: 'invalid-key', roundId: 1 });
      expect(p.state.lastError?.message).toContain(hostilePk);
      expect(coordinator.calls.post).toBe(0);
      expect(asked).toBe(1);
      // the next round, with an honest sum dictionary, goes ahead
      coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1, modelLength: 3 });
      coordinator.sums = new Map([[toBase64Url(new Uint8Array(32).fill(1)), crypto.encryptKeyPair().publicKey]]);
      expect(await settle(p)).toEqual(['update', 'sending', 'awaiting']);
      expect(coordinator.payloads('update')).toHaveLength(1);
    }
  });

  it('coordinator data that does not decode gives the round up with the decoder’s code; a plain outage is pending', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1, modelLength: 3 });
    const p = participant(coordinator, { model: [0.1, 0.2, 0.3] });
    await settle(p);
    const malformed = new CoordinatorUnavailableError('GET /sums: malformed sum dictionary: …', {
      cause: new PetError('unsorted-keys', 'sum dictionary[1].key: expected a key above …'),
      status: 200,
    });
    const outage = new CoordinatorUnavailableError('GET /sums: answered 503', { status: 503 });
    const down: Participant = {
      ...p,
      io: { ...p.io, client: coordinator.with({ getSums: () => Promise.reject(outage) }) },
    };
    expect(await step(p.state, down.io)).toStrictEqual({ kind: 'pending', state: p.state });
    const garbled: Participant = {
      ...p,
      io: { ...p.io, client: coordinator.with({ getSums: () => Promise.reject(malformed) }) },
    };
    expect(await settle(garbled)).toEqual(['awaiting']);
    expect(garbled.state.lastError).toStrictEqual({ code: 'unsorted-keys', message: malformed.message, roundId: 1 });
  });

  it('an error step cannot classify is thrown, except on the last attempt, which gives the round up', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1, modelLength: 3 });
    const p = participant(coordinator, { model: [0.1, 0.2, 0.3] });
    await settle(p);
    const io = { ...p.io, client: coordinator.with({ getSums: () => Promise.reject(new TypeError('a bug')) }) };
    await expect(step(p.state, io)).rejects.toThrow('a bug');
    const aborted = new AbortController();
    aborted.abort();
    await expect(step(p.state, io, { lastAttempt: true, signal: aborted.signal })).rejects.toThrow('a bug');
    const last = await step(p.state, io, { lastAttempt: true, signal: new AbortController().signal });
    expect(last.kind).toBe('complete');
    expect(last.state.phase).toStrictEqual({ kind: 'awaiting' });
    expect(last.state.lastError).toStrictEqual({ code: 'internal', message: 'a bug', roundId: 1 });
  });
});

/** A participant of `coordinator` whose `GET /model` answers 503. */
function withoutModel(coordinator: FakeCoordinator) {
  const q = participant(coordinator);
  q.io = {
    ...q.io,
    client: coordinator.with({
      getModel: () => Promise.reject(new CoordinatorUnavailableError('GET /model: answered 503')),
    }),
  };
  return q;
}

describe('step: the global model (protocol.md §3.10)', () => {
  it('is handed to the app once per new model, at the start of a round', async () => {
    const coordinator = new FakeCoordinator(crypto);
    const delivered: number[] = [];
    const p = participant(coordinator);
    p.io = { ...p.io, onGlobalModel: (global) => delivered.push(global.roundId) };

    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1e-9 });
    await settle(p); // no model yet
    coordinator.model = { roundId: 1, model: Float32Array.of(1, 2, 3, 4) };
    await settle(p); // same round: nothing new
    expect(delivered).toEqual([]);

    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1e-9 });
    await settle(p);
    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1e-9 });
    await settle(p); // the model did not change
    expect(delivered).toEqual([1]);
    expect(p.state.lastGlobalModelRound).toBe(1);

    coordinator.model = { roundId: 3, model: Float64Array.of(1, 2, 3, 4) };
    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1e-9 });
    await settle(p);
    expect(delivered).toEqual([1, 3]);
  });

  it('a throwing onGlobalModel or an unavailable model is recorded; the task goes ahead', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.model = { roundId: 7, model: Float32Array.of(0, 0, 0, 0) };
    const p = participant(coordinator);
    p.io = {
      ...p.io,
      onGlobalModel: () => {
        throw new Error('ui broke');
      },
    };
    coordinator.startRound(); // a sum task: the model comes once the Sum is sent
    expect(await settle(p)).toEqual(['sum', 'sending', 'sum2']);
    expect(coordinator.payloads('sum')).toHaveLength(1);
    expect(p.state.lastGlobalModelRound).toBe(7);
    expect(p.state.lastError).toStrictEqual({
      code: 'callback-failed',
      message: 'onGlobalModel: ui broke',
      roundId: 1,
    });

    const q = withoutModel(coordinator);
    expect(await settle(q)).toEqual(['sum', 'sending', 'sum2']);
    expect(q.state.lastGlobalModelRound).toBeUndefined();
    expect(q.state.lastError).toMatchObject({ code: 'unavailable', roundId: 1 });
  });

  it('a sum participant sends its Sum before it downloads the global model; an update participant downloads it first', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.model = { roundId: 7, model: Float32Array.of(0, 0, 0, 0) };
    const order: string[] = [];
    const client = coordinator.with({
      getModel: async () => {
        order.push('GET /model');
        return coordinator.getModel();
      },
      postMessage: async (sealed) => {
        order.push('POST /message');
        return coordinator.postMessage(sealed);
      },
    });
    const delivered: number[] = [];
    const round = coordinator.startRound({ sumProbability: 0.5, seed: new Uint8Array(32).fill(42) });
    const [sumSeed] = identitiesFor(round, 'sum', 1);
    const [updateSeed] = identitiesFor(round, 'update', 1);
    const s = participant(coordinator, { identitySeed: sumSeed as Uint8Array });
    s.io = { ...s.io, client, onGlobalModel: (g) => delivered.push(g.roundId) };
    expect(await settle(s)).toEqual(['sum', 'sending', 'sum2']);
    expect(order).toEqual(['POST /message', 'GET /model']);
    expect(delivered).toEqual([7]);
    expect(s.state.lastGlobalModelRound).toBe(7);

    order.length = 0;
    const u = participant(coordinator, { identitySeed: updateSeed as Uint8Array, model: [0.1, 0.2, 0.3, 0.4] });
    u.io = { ...u.io, client };
    expect(await settle(u)).toEqual(['update']); // waits for the sum dictionary
    expect(order).toEqual(['GET /model']);
  });

  it('a sum participant whose Sum is refused (the sum phase closed first) is handed the model all the same, once', async () => {
    const coordinator = new FakeCoordinator(crypto);
    coordinator.model = { roundId: 7, model: Float32Array.of(0, 0, 0, 0) };
    coordinator.startRound(); // a sum task
    const delivered: number[] = [];
    const p = participant(coordinator);
    p.io = { ...p.io, onGlobalModel: (g) => delivered.push(g.roundId) };
    coordinator.failPost = () => new CoordinatorRejectedError(409, 'wrong-phase', 'the sum phase has ended');
    expect(await settle(p)).toEqual(['sum', 'sending', 'awaiting']);
    expect(delivered).toEqual([7]);
    expect(p.state.lastGlobalModelRound).toBe(7);
    // The round is given up for the refusal, which stays its error.
    expect(p.state.lastError).toStrictEqual({ code: 'wrong-phase', message: 'the sum phase has ended', roundId: 1 });
    await settle(p);
    expect(delivered).toEqual([7]);

    // A model that cannot be fetched then leaves the refusal as the error and nothing delivered.
    const q = withoutModel(coordinator);
    expect(await settle(q)).toEqual(['sum', 'sending', 'awaiting']);
    expect(q.state.lastGlobalModelRound).toBeUndefined();
    expect(q.state.lastError).toMatchObject({ code: 'wrong-phase', roundId: 1 });
  });
});
