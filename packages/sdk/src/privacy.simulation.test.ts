/**
 * Participants and a round's privacy promise (docs/privacy.md §2–3), against a real coordinator
 * running a training run with distributed Skellam noise: the SDK noises every update before
 * masking, a participant whose own ε limit the round would exceed sits it out with a clear
 * `lastError`, and the ε each participant spent is kept in its saved state.
 */

import { type RoundPrivacy, roundPrivacyMechanism } from '@petfl/core';
import { afterEach, describe, expect, it } from 'vitest';
import { startCoordinator, type TestCoordinator, waitFor } from '../test-support/coordinator.ts';
import { type AsyncParticipant, spawnAsyncParticipant } from './async-participant.ts';
import { MemoryStateStore } from './index.ts';
import { deserializeState } from './state-codec.ts';
import { privacyRefusal, spentEpsilon } from './state-machine/privacy.ts';

const P = 16;
const running: TestCoordinator[] = [];
afterEach(async () => {
  for (const c of running.splice(0)) await c.close();
});

/**
 * Rounds that end as soon as their counts are reached; the long limits only hold phases open on a
 * loaded machine (a sum phase nobody drew fails after 3 s, and the next round starts).
 */
const ROUNDS = {
  sum: { probability: 0.25, min: 1, max: 3, minMs: 100, maxMs: 3_000 },
  update: { min: 3, max: 20, minMs: 300, maxMs: 20_000 },
  sum2: { min: 1, max: 3, minMs: 100, maxMs: 20_000 },
  modelLength: P,
} as const;

/** A participant with a silent log and a fast poll, talking to `c` in process. */
function spawnOn(c: TestCoordinator, options: Parameters<typeof spawnAsyncParticipant>[1] = {}) {
  return spawnAsyncParticipant(c.url, {
    pollMs: 10,
    maxPollMs: 50,
    logLevel: 'silent',
    fetch: c.fetch,
    store: new MemoryStateStore(),
    ...options,
  });
}

/** 8 participants, participant i handing in `updateOf(i)` whenever it draws the update task, until two rounds completed. */
async function updateUntilTwoRounds(c: TestCoordinator, updateOf: (i: number) => Float32Array): Promise<void> {
  const participants: AsyncParticipant[] = [];
  for (let i = 0; i < 8; i++) {
    const { participant } = await spawnOn(c);
    const onSnapshot = () => {
      if (participant.getSnapshot().phase === 'update') participant.setLocalModel(updateOf(i));
    };
    participant.subscribe(onSnapshot);
    onSnapshot();
    participants.push(participant);
  }
  await waitFor(async () => (await c.completedRounds()).length >= 2, 120_000);
  await Promise.all(participants.map((p) => p.stop()));
}

const RUN = `
[run]
enabled = true
strategy = "fedavg"
server_learning_rate = 1.0
[run.privacy]
mechanism = "skellam"
clip_norm = 1.0
participants = 3
noise_multiplier = 1.0
`;

describe('a round that promises distributed noise', () => {
  it('participants noise their updates, refuse rounds over their own ε limit, and keep their ledger', async () => {
    const c = await startCoordinator({
      ...ROUNDS,
      scalarMin: 1,
      extraToml: RUN,
    });
    running.push(c);
    const params = JSON.parse(await (await c.fetch(`${c.url}/params`)).text()) as { privacy: RoundPrivacy };
    expect(params.privacy).toMatchObject({ mechanism: 'skellam', participants: 3, dimension: P });

    const limits = [
      ...Array.from({ length: 2 }, () => ({ maxEpsilon: 1e-3, delta: 1e-5 })), // no round fits
      ...Array.from({ length: 6 }, () => ({ maxEpsilon: 1e6, delta: 1e-5 })),
      undefined,
      undefined,
    ];
    const participants: AsyncParticipant[] = [];
    const updateRounds = limits.map(() => new Set<number>());
    const errorsSeen = limits.map(() => new Set<string>());
    for (const [i, limit] of limits.entries()) {
      const { participant } = await spawnOn(c, limit === undefined ? {} : { privacy: limit });
      // An update far outside the clip norm: what is sent is clipped and noised by the SDK.
      const onSnapshot = () => {
        const { phase, roundId, lastError } = participant.getSnapshot();
        if (lastError !== null) errorsSeen[i]?.add(`${lastError.code}: ${lastError.message}`);
        if (phase === 'update' && roundId !== null && !updateRounds[i]?.has(roundId)) {
          updateRounds[i]?.add(roundId);
          participant.setLocalModel(Float32Array.from({ length: P }, (_, j) => 3 + j));
        }
      };
      participant.subscribe(onSnapshot);
      onSnapshot();
      participants.push(participant);
    }

    // Until two rounds completed and each tight participant drew the update task at least once.
    const refused = (i: number) => [...(errorsSeen[i] ?? [])].some((e) => e.startsWith('privacy-limit'));
    await waitFor(async () => (await c.completedRounds()).length >= 2 && refused(0) && refused(1), 150_000);
    const states = await Promise.all(participants.map(async (p) => deserializeState(await p.stop())));

    // The two with a tiny limit never sent an update: nothing charged, and they said why.
    for (const [i, state] of states.slice(0, 2).entries()) {
      expect(state.privacyLedger).toBeUndefined();
      expect([...(errorsSeen[i] ?? [])].join('\n')).toMatch(
        /privacy-limit: .*over options\.privacy\.maxEpsilon 0\.001/,
      );
      expect(updateRounds[i]?.size).toBe(0);
    }

    // Everyone else who sent updates has them on its ledger, each round once, with ε its own
    // accountant computes from the announced promise.
    const mechanism = roundPrivacyMechanism(params.privacy);
    let charged = 0;
    for (const state of states.slice(2)) {
      const ledger = state.privacyLedger;
      if (ledger === undefined) continue;
      charged += 1;
      expect(new Set(ledger.rounds).size).toBe(ledger.rounds.length);
      expect(ledger.accountant.events).toEqual([
        { mechanism: expect.objectContaining({ kind: mechanism.kind }), count: ledger.rounds.length },
      ]);
      expect(spentEpsilon(ledger, 1e-5)).toBeGreaterThan(0);
      // The same participant with a tight limit would now refuse the next round.
      // A round not charged yet: another seed (a reused round id with a new seed counts as new).
      const next = { ...(state.round as NonNullable<typeof state.round>), seed: new Uint8Array(32).fill(7) };
      expect(privacyRefusal(ledger, next, { maxEpsilon: spentEpsilon(ledger, 1e-5), delta: 1e-5 })?.code).toBe(
        'privacy-limit',
      );
    }
    expect(charged).toBeGreaterThanOrEqual(3);

    // The run released two noised averages: the model moved away from zero.
    const model = await c.models.latest();
    expect(model?.roundId).toBeGreaterThanOrEqual(2);
    expect(Math.hypot(...(model?.model ?? []))).toBeGreaterThan(0);
  }, 180_000);

  it('a participant refuses a round whose seed does not commit to the promise', async () => {
    const c = await startCoordinator({
      ...ROUNDS,
      sum: { ...ROUNDS.sum, probability: 0.5 },
      scalarMin: 1,
      extraToml: RUN,
    });
    running.push(c);
    // A coordinator (or a path to it) that announces weaker noise than its seed commits to.
    const lying: typeof c.fetch = async (url, init) => {
      const res = await c.fetch(url, init);
      if (!url.endsWith('/params')) return res;
      const json = JSON.parse(await res.text()) as { privacy: { noise: number } };
      json.privacy.noise /= 100;
      const body = JSON.stringify(json);
      return {
        status: res.status,
        text: async () => body,
        arrayBuffer: async () => new TextEncoder().encode(body).buffer as ArrayBuffer,
      };
    };
    const { participant } = await spawnOn(c, { fetch: lying });
    await waitFor(() => participant.getSnapshot().lastError?.code === 'privacy-mismatch', 30_000);
    expect(participant.getSnapshot().lastError?.message).toMatch(/does not commit to the announced privacy/);
    expect(participant.getSnapshot().task).toBe('none');
    await participant.stop();
  }, 60_000);
});

describe('a round that rotates its updates (rotation = "hadamard")', () => {
  it('every participant rotates its update before rounding and noise; the coordinator rotates the average back', async () => {
    const c = await startCoordinator({
      ...ROUNDS,
      scalarMin: 1,
      // Little noise (σ = 0.001: about 3·10⁻⁴ per entry of the average of ≥ 3 updates). Not rotated
      // back, the average would be off by 0.125 or more in every entry.
      extraToml: `${RUN.replace('noise_multiplier = 1.0', 'noise_multiplier = 0.001')}rotation = "hadamard"\n`,
    });
    running.push(c);
    const params = JSON.parse(await (await c.fetch(`${c.url}/params`)).text()) as { privacy: RoundPrivacy };
    expect(params.privacy).toMatchObject({ mechanism: 'skellam', rotation: 'hadamard' });
    // One peaked update for everyone (norm 0.5 < C): rotated, it would be spread over all 16 entries.
    const update = Float32Array.from({ length: P }, (_, j) => (j === 5 ? 0.5 : 0));
    await updateUntilTwoRounds(c, () => update);
    const [before, after] = (await c.completedRounds()).sort((x, y) => x - y).slice(-2);
    const previous = (await c.models.get(before as number))?.model ?? [];
    const model = (await c.models.get(after as number))?.model ?? [];
    // FedAvg with learning rate 1: the step between two completed rounds is the released average.
    for (let j = 0; j < P; j++) {
      expect(
        Math.abs((model[j] as number) - (previous[j] as number) - (update[j] as number)),
        `entry ${j}`,
      ).toBeLessThan(0.01);
    }
  }, 180_000);
});

describe('local privacy filters (options.privacyFilters)', () => {
  it('filter every update on the device before masking: the global model is the average of filtered models', async () => {
    const c = await startCoordinator({
      ...ROUNDS,
    });
    running.push(c);
    // Every participant holds the same model: its top quarter by |value| (4 of 16), clamped to ±1,
    // is all the percentile filter lets through, and so all the average can hold.
    const model = Float32Array.from({ length: P }, (_, j) => (j % 3 === 0 ? -1 : 1) * (0.1 + j / 4));
    const order = [...model.keys()].sort((a, b) => Math.abs(model[b] as number) - Math.abs(model[a] as number));
    const expected = new Float64Array(P);
    for (const j of order.slice(0, 4)) expected[j] = Math.sign(model[j] as number);
    const participants: AsyncParticipant[] = [];
    for (let i = 0; i < 8; i++) {
      const { participant } = await spawnOn(c, {
        privacyFilters: [{ kind: 'percentile', fraction: 0.25, bound: 1 }],
      });
      const onSnapshot = () => {
        if (participant.getSnapshot().phase === 'update') participant.setLocalModel(model);
      };
      participant.subscribe(onSnapshot);
      onSnapshot();
      participants.push(participant);
    }
    await waitFor(async () => (await c.completedRounds()).length >= 1, 120_000);
    await Promise.all(participants.map((p) => p.stop()));
    const global = await c.models.latest();
    expect([...(global?.model ?? [])].map((w) => Math.round(w * 1e6) / 1e6)).toEqual([...expected]);
  }, 180_000);

  it('refuses filters it cannot apply, naming the field', async () => {
    await expect(
      spawnAsyncParticipant('http://petfl.test', {
        fetch: async () => {
          throw new Error('unused');
        },
        privacyFilters: [{ kind: 'laplace', epsilon: -1, norm: 'l1', bound: 1 }],
      }),
    ).rejects.toThrow(/options\.privacyFilters: .*filters\[0\]\.epsilon/);
  });
});

describe('adaptive clipping through the SDK', () => {
  it('every participant sets its clip bit from the round’s C; the coordinator moves C', async () => {
    const c = await startCoordinator({
      ...ROUNDS,
      scalarMin: 1,
      // Little noise (σ = 0.1): the noised fraction b̄ is then within ±0.03 of the truth (σ·C'/(k·β·C)).
      extraToml: `${RUN.replace('noise_multiplier = 1.0', 'noise_multiplier = 0.1')}adaptive_clipping = true\nclip_bit_weight = 2.0\n`,
    });
    running.push(c);
    const first = JSON.parse(await (await c.fetch(`${c.url}/params`)).text()) as { modelLength: number };
    expect(first.modelLength).toBe(P + 1); // the update and its bit
    await updateUntilTwoRounds(c, (i) => {
      // Updates of norm 0.1 (the bit's slot left 0: the SDK fills it): within C = 1, never clipped.
      const update = new Float32Array(P + 1);
      update[i % P] = 0.1;
      return update;
    });
    const report = await c.created.coordinator.runReport();
    const entries = report?.epsilonByRound ?? [];
    expect(entries.length).toBeGreaterThanOrEqual(2);
    for (const entry of entries) {
      // Every participant's bit said "within C": the noised fraction is 1 up to the bit's noise.
      expect(Math.abs((entry.unclipped as number) - 1)).toBeLessThan(0.3);
    }
    // …so C shrank from 1 toward the updates' norms.
    expect(entries[1]?.clipNorm).toBeLessThan(1);
  }, 180_000);
});
