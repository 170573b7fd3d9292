import { decodeGlobalModel, encodeMessage, sealMessage, signMessage } from '@petfl/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  expectAverage,
  type Harness,
  identities,
  runRound,
  settle,
  startHarness,
  testSettings,
} from '../../test-support/harness.ts';
import { ManualClock } from '../../test-support/manual-clock.ts';
import {
  fetchParams,
  fetchSeeds,
  fetchSumDict,
  pickTasks,
  post,
  randomModel,
  sum2Chunks,
  sum2Message,
  sumMessage,
  updateMessage,
} from '../../test-support/sim.ts';
import type { RoundSummary } from '../store/coordinator-store.ts';
import { MemoryModelStore } from '../store/memory-model-store.ts';
import { MemoryCoordinatorStore } from '../store/memory-store.ts';
import { StoreError } from '../store/store-error.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function history(harness: Harness): Promise<RoundSummary[]> {
  const res = await harness.admin('/rounds');
  expect(res.status).toBe(200);
  return ((await res.json()) as { rounds: RoundSummary[] }).rounds;
}

describe('coordinator rounds in process (participants → app.request)', () => {
  it('3 sum + 10 update participants, 4 rounds: each global model is the exact weighted average', async () => {
    const models = new MemoryModelStore();
    h = await startHarness(testSettings(), { models });
    const pool = identities(h.crypto, 80);
    for (let r = 0; r < 4; r++) {
      const run = await runRound(h, pool, { sum: 3, update: 10 }, r + 1);
      const stored = await models.get(run.roundId);
      expect(stored?.model).toBeInstanceOf(Float64Array);
      // the exact float64 decode is within n/E of the reference …
      expectAverage(h.settings, stored?.model ?? [], run.models, run.scalars);
      // … and GET /model serves it rounded to the config's f32
      expect(run.global.model).toBeInstanceOf(Float32Array);
      expect(Array.from(run.global.model)).toEqual(Array.from(stored?.model ?? [], Math.fround));
    }
    const rounds = await history(h);
    expect(rounds.map((r) => [r.roundId, r.outcome])).toEqual([
      [4, 'completed'],
      [3, 'completed'],
      [2, 'completed'],
      [1, 'completed'],
    ]);
    expect(rounds[0]?.participants).toEqual({ sum: 3, update: 10, sum2: 3 });
    expect(h.coordinator.status()).toMatchObject({ roundId: 5, phase: 'sum' });
  });

  it('reassembles multipart updates sent in chunks', async () => {
    h = await startHarness();
    const pool = identities(h.crypto, 80, 1);
    const run = await runRound(h, pool, { sum: 3, update: 10 }, 9, { maxChunkData: 1500 });
    expectAverage(h.settings, run.global.model, run.models, run.scalars, (r) => Math.abs(r) * 2 ** -24);
    expect(h.coordinator.status().messages.accepted['chunk']).toBeGreaterThan(10);
  });

  it('after shutdown it accepts nothing (503 unavailable) and /health says so', async () => {
    h = await startHarness();
    const params = await fetchParams(h.fetch);
    const [p] = pickTasks(h.crypto, params, identities(h.crypto, 80, 7), { sum: 1, update: 0 }).sum;
    if (p === undefined) throw new Error('no sum participant');
    await h.coordinator.shutdown();
    expect(await post(h.fetch, sumMessage(h.crypto, params, p))).toEqual({ status: 503, code: 'unavailable' });
    expect((await h.fetch('/health')).status).toBe(503);
    expect(h.coordinator.status().counts.sum).toBe(0);
  });

  it('reads are 204 until their data exists', async () => {
    h = await startHarness();
    expect((await h.fetch('/sums')).status).toBe(204);
    expect((await h.fetch('/model')).status).toBe(204);
    const [who] = identities(h.crypto, 1);
    if (who === undefined) throw new Error('no identity');
    expect(await fetchSeeds(h.fetch, who)).toBeUndefined(); // 204
    expect((await h.fetch(`/seeds?pk=${who.pk}`)).status).toBe(401); // unsigned
    expect((await h.fetch('/seeds?pk=abc')).status).toBe(400);
    expect((await h.fetch('/params')).status).toBe(200);
  });
});

/** Drives a round into its sum2 phase: 3 sum and 10 update participants of `pool` accepted. */
async function intoSum2(harness: Harness, pool: ReturnType<typeof identities>) {
  const { crypto, fetch } = harness;
  const params = await fetchParams(fetch);
  const { sum, update } = pickTasks(crypto, params, pool, { sum: 3, update: 10 });
  for (const p of sum) await post(fetch, sumMessage(crypto, params, p));
  const sumDict = (await fetchSumDict(fetch)) ?? new Map();
  for (const [i, p] of update.entries()) {
    const [msg] = updateMessage(crypto, params, p, sumDict, randomModel(params.modelLength, i), 1);
    await post(fetch, msg as Uint8Array);
  }
  return { params, sum };
}

describe('unmask', () => {
  it('the only instance unmasks with its own aggregate: the store’s partials are not read back, the model is exact', async () => {
    const store = new MemoryCoordinatorStore();
    const calls = { partials: 0, checkpoint: 0 };
    const partials = store.partials.bind(store);
    const checkpoint = store.checkpoint.bind(store);
    store.partials = (...args) => {
      calls.partials += 1;
      return partials(...args);
    };
    store.checkpoint = (...args) => {
      calls.checkpoint += 1;
      return checkpoint(...args);
    };
    h = await startHarness(testSettings(), { store });
    const pool = identities(h.crypto, 80, 12);
    for (let r = 0; r < 2; r++) {
      const run = await runRound(h, pool, { sum: 3, update: 10 }, 40 + r);
      expectAverage(h.settings, run.global.model, run.models, run.scalars, (x) => Math.abs(x) * 2 ** -24);
    }
    // Each round checkpointed at its 8th update and logged 2 more: the unmask needed all of them.
    expect(calls).toEqual({ partials: 0, checkpoint: 2 });
  });
});

describe('phase timing and dropouts', () => {
  it('a Sum2 chunk that arrives while the round unmasks is late (409 wrong-phase), not a broken message', async () => {
    // Unmask is held open: loading the winning mask waits until the test lets it go.
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    class HeldUnmaskStore extends MemoryCoordinatorStore {
      override async loadMask(roundId: number, maskHash: string): Promise<Uint8Array | undefined> {
        await held;
        return super.loadMask(roundId, maskHash);
      }
    }
    try {
      h = await startHarness(testSettings({ PETFL_PET_SUM2_COUNT_MIN: '2' }), { store: new HeldUnmaskStore() });
      const { crypto, fetch } = h;
      const { params, sum } = await intoSum2(h, identities(crypto, 80, 11));
      const [a, b, c] = sum;
      if (a === undefined || b === undefined || c === undefined) throw new Error('expected 3 sum participants');
      const seedsOf = async (p: typeof a) => (await fetchSeeds(fetch, p.pk)) ?? new Map<string, Uint8Array>();
      const late = sum2Chunks(crypto, params, c, await seedsOf(c), 1500);
      expect(late.length).toBeGreaterThan(2);
      expect(await post(fetch, late[0] as Uint8Array)).toEqual({ status: 202 }); // chunk 0 is held
      expect(await post(fetch, sum2Message(crypto, params, a, await seedsOf(a)))).toEqual({ status: 202 });
      // The majority: sum2 ends and unmask begins; the answer to b waits for unmask.
      const majority = post(fetch, sum2Message(crypto, params, b, await seedsOf(b)));
      await settle(() => h?.coordinator.status().phase === 'unmask');
      expect(await post(fetch, late[1] as Uint8Array)).toEqual({ status: 409, code: 'wrong-phase' });
      expect(await post(fetch, sum2Message(crypto, params, c, await seedsOf(c)))).toEqual({
        status: 409,
        code: 'wrong-phase',
      });
      release();
      expect(await majority).toEqual({ status: 202 });
      await settle(() => h?.coordinator.status().phase === 'sum');
      const [round] = await history(h);
      expect(round).toMatchObject({ outcome: 'completed', participants: { sum: 3, update: 10, sum2: 2 } });
    } finally {
      release(); // a failed expectation must not leave unmask, and the harness's close, waiting
    }
  });

  it('update participants that vanish after sum cost nothing: the round aggregates those that sent', async () => {
    const clock = new ManualClock();
    h = await startHarness(testSettings({ PETFL_PET_UPDATE_TIME_MIN_MS: '500', PETFL_PET_UPDATE_COUNT_MIN: '3' }), {
      clock,
    });
    const { crypto, fetch } = h;
    const params = await fetchParams(fetch);
    const { sum, update } = pickTasks(crypto, params, identities(crypto, 80, 2), { sum: 3, update: 10 });
    for (const p of sum) expect((await post(fetch, sumMessage(crypto, params, p))).status).toBe(202);
    const sumDict = (await fetchSumDict(fetch)) ?? new Map();
    const sent = update.slice(0, 6); // 4 of 10 vanish
    const models = sent.map((_, i) => randomModel(params.modelLength, 500 + i));
    const scalars = sent.map((_, i) => 1 + i);
    for (const [i, p] of sent.entries()) {
      const [msg] = updateMessage(crypto, params, p, sumDict, models[i] as Float32Array, scalars[i] as number);
      expect((await post(fetch, msg as Uint8Array)).status).toBe(202);
    }
    expect(h.coordinator.status().phase).toBe('update'); // time.min not passed yet
    clock.advance(500);
    await settle(() => h?.coordinator.status().phase === 'sum2');
    for (const p of sum) {
      const seeds = (await fetchSeeds(fetch, p.pk)) ?? new Map();
      expect(seeds.size).toBe(6);
      expect((await post(fetch, sum2Message(crypto, params, p, seeds))).status).toBe(202);
    }
    const global = decodeGlobalModel(new Uint8Array(await (await fetch('/model')).arrayBuffer()));
    expectAverage(h.settings, global.model, models, scalars, (r) => Math.abs(r) * 2 ** -24);
  });

  it('sum participants that vanish before sum2 fail the round with a recorded reason; the next round succeeds', async () => {
    const clock = new ManualClock();
    h = await startHarness(testSettings({ PETFL_PET_SUM2_TIME_MAX_MS: '2000' }), { clock });
    const { crypto, fetch } = h;
    const pool = identities(crypto, 80, 3);
    const { params, sum } = await intoSum2(h, pool);
    // only one of the three sum participants sends its mask
    const first = sum[0];
    if (first === undefined) throw new Error('no sum participant');
    const seeds = (await fetchSeeds(fetch, first.pk)) ?? new Map();
    expect((await post(fetch, sum2Message(crypto, params, first, seeds))).status).toBe(202);
    clock.advance(2000);
    await settle(() => h?.coordinator.status().roundId === params.roundId + 1);
    const [failed] = await history(h);
    expect(failed).toMatchObject({ roundId: params.roundId, outcome: 'failed' });
    expect(failed?.failureReason).toMatch(/sum2 phase timed out: 1 message accepted, at least 3 needed within 2000 ms/);
    expect((await fetch('/model')).status).toBe(204);

    const run = await runRound(h, pool, { sum: 3, update: 10 }, 4);
    expectAverage(h.settings, run.global.model, run.models, run.scalars, (r) => Math.abs(r) * 2 ** -24);
    expect((await history(h))[0]).toMatchObject({ roundId: params.roundId + 1, outcome: 'completed' });
  });

  it('the sum2 phase waits for a majority of the sum dictionary even when sum2 count.min is lower', async () => {
    h = await startHarness(testSettings({ PETFL_PET_SUM2_COUNT_MIN: '1' }));
    const { crypto, fetch } = h;
    const { params, sum } = await intoSum2(h, identities(crypto, 80, 13));
    const sum2Of = async (p: (typeof sum)[number]) =>
      post(fetch, sum2Message(crypto, params, p, (await fetchSeeds(fetch, p.pk)) ?? new Map()));
    expect(await sum2Of(sum[0] as (typeof sum)[number])).toEqual({ status: 202 });
    await settle();
    expect(h.coordinator.status().phase).toBe('sum2'); // 1 of 3: no majority yet, time.min 0 or not
    expect(await sum2Of(sum[1] as (typeof sum)[number])).toEqual({ status: 202 });
    await settle(() => h?.coordinator.status().roundId === params.roundId + 1);
    expect((await history(h))[0]).toMatchObject({ roundId: params.roundId, outcome: 'completed' });
  });

  it('a sum phase with no message fails at time.max and a fresh round starts with a new key and seed', async () => {
    const clock = new ManualClock();
    h = await startHarness(testSettings({ PETFL_PET_SUM_TIME_MAX_MS: '1000' }), { clock });
    const before = await fetchParams(h.fetch);
    clock.advance(1000);
    await settle(() => h?.coordinator.status().roundId === before.roundId + 1);
    const after = await fetchParams(h.fetch);
    expect(after.coordinatorPk).not.toEqual(before.coordinatorPk);
    expect(after.seed).not.toEqual(before.seed);
    expect((await history(h))[0]?.failureReason).toMatch(/sum phase timed out: 0 messages/);
  });
});

describe('store failures', () => {
  it('a store that fails to commit an update answers 503 and keeps nothing of it; the resent update counts once', async () => {
    const store = new MemoryCoordinatorStore();
    let failNext = false;
    const flaky = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'addUpdate' && failNext) {
          failNext = false;
          return async () => {
            throw new StoreError('redis addUpdate: connection lost');
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    h = await startHarness(testSettings(), { store: flaky });
    const { crypto, fetch } = h;
    const params = await fetchParams(fetch);
    const { sum, update } = pickTasks(crypto, params, identities(crypto, 80, 6), { sum: 3, update: 10 });
    for (const p of sum) await post(fetch, sumMessage(crypto, params, p));
    const sumDict = (await fetchSumDict(fetch)) ?? new Map();
    const models = update.map((_, i) => randomModel(params.modelLength, 300 + i));
    const scalars = update.map((_, i) => 1 + (i % 2));
    const messages = update.map(
      (p, i) =>
        updateMessage(crypto, params, p, sumDict, models[i] as Float32Array, scalars[i] as number)[0] as Uint8Array,
    );
    failNext = true;
    expect(await post(fetch, messages[0] as Uint8Array)).toEqual({ status: 503, code: 'unavailable' });
    expect(h.coordinator.status().counts.update).toBe(0);
    for (const m of messages) expect(await post(fetch, m)).toEqual({ status: 202 });
    for (const p of sum) {
      await post(fetch, sum2Message(crypto, params, p, (await fetchSeeds(fetch, p.pk)) ?? new Map()));
    }
    const global = decodeGlobalModel(new Uint8Array(await (await fetch('/model')).arrayBuffer()));
    expectAverage(h.settings, global.model, models, scalars, (r) => Math.abs(r) * 2 ** -24);
  });
});

describe('message rejections', () => {
  it('answers each protocol violation with its own 4xx code and accepts nothing', async () => {
    h = await startHarness();
    const { crypto, fetch } = h;
    const pool = identities(crypto, 80, 4);
    const params = await fetchParams(fetch);
    const { sum, update } = pickTasks(crypto, params, pool, { sum: 3, update: 10 });
    const [s0, s1, s2] = sum;
    const [u0, u1] = update;
    if (!s0 || !s1 || !s2 || !u0 || !u1) throw new Error('not enough participants');

    // an update in the sum phase
    const early = updateMessage(crypto, params, u0, new Map(), randomModel(1000, 1), 1)[0] as Uint8Array;
    expect(await post(fetch, early)).toEqual({ status: 409, code: 'wrong-phase' });
    // an update participant claiming sum: its sum signature is not eligible
    const fakeSum = sumMessage(crypto, params, { ...u0, ephemeral: crypto.encryptKeyPair() });
    expect(await post(fetch, fakeSum)).toEqual({ status: 401, code: 'not-eligible' });
    // garbage, and bytes sealed to another key
    expect(await post(fetch, crypto.randomBytes(400))).toEqual({ status: 400, code: 'decrypt-failed' });
    // a valid message whose signature does not cover what was sealed
    const msg = {
      participantPk: s0.keys.publicKey,
      coordinatorPk: params.coordinatorPk,
      payload: {
        kind: 'sum' as const,
        sum: { sumSignature: s0.selection.sumSignature, ephemeralPk: s0.ephemeral.publicKey },
      },
    };
    const signed = signMessage(crypto, encodeMessage(msg), s0.keys.secretKey);
    signed[200] = (signed[200] as number) ^ 1;
    expect(await post(fetch, crypto.sealEnvelope(signed, params.coordinatorPk))).toEqual({
      status: 401,
      code: 'bad-signature',
    });
    // the sum phase: a duplicate
    expect(await post(fetch, sumMessage(crypto, params, s0))).toEqual({ status: 202 });
    expect(await post(fetch, sealMessage(crypto, msg, s0.keys.secretKey))).toEqual({
      status: 409,
      code: 'duplicate-message',
    });
    await post(fetch, sumMessage(crypto, params, s1));
    await post(fetch, sumMessage(crypto, params, s2));
    const sumDict = (await fetchSumDict(fetch)) ?? new Map();

    // update phase: seed dictionary with a key missing
    const partial = new Map([...sumDict].slice(0, 2));
    const missing = updateMessage(crypto, params, u0, partial, randomModel(1000, 2), 1)[0] as Uint8Array;
    expect(await post(fetch, missing)).toEqual({ status: 400, code: 'seed-dict-mismatch' });
    // a model of the wrong length
    const short = updateMessage(crypto, params, u0, sumDict, randomModel(999, 2), 1)[0] as Uint8Array;
    expect(await post(fetch, short)).toEqual({ status: 400, code: 'model-length-mismatch' });
    // a sum message now is the wrong phase
    expect(await post(fetch, sumMessage(crypto, params, s0))).toEqual({ status: 409, code: 'wrong-phase' });
    // accepted once, then a duplicate
    const good = updateMessage(crypto, params, u0, sumDict, randomModel(1000, 3), 1)[0] as Uint8Array;
    expect(await post(fetch, good)).toEqual({ status: 202 });
    const again = updateMessage(crypto, params, u0, sumDict, randomModel(1000, 4), 1)[0] as Uint8Array;
    expect(await post(fetch, again)).toEqual({ status: 409, code: 'duplicate-message' });
    const status = h.coordinator.status();
    expect(status.counts).toEqual({ sum: 3, update: 1, sum2: 0 });
    expect(status.messages.rejected).toMatchObject({
      'wrong-phase': 2,
      'not-eligible': 1,
      'decrypt-failed': 1,
      'bad-signature': 1,
      'duplicate-message': 2,
      'seed-dict-mismatch': 1,
      'model-length-mismatch': 1,
    });
  });

  it('tells a message sealed to the previous round (wrong-round) from garbage, and a non-sum pk asking for seeds', async () => {
    h = await startHarness();
    const pool = identities(h.crypto, 80, 5);
    const first = await fetchParams(h.fetch);
    const stale = pickTasks(h.crypto, first, pool, { sum: 1, update: 0 }).sum[0];
    if (!stale) throw new Error('no sum participant');
    await runRound(h, pool, { sum: 3, update: 10 }, 5);
    expect(await post(h.fetch, sumMessage(h.crypto, first, stale))).toEqual({ status: 409, code: 'wrong-round' });
    // The new round is in its sum phase: nothing to say yet (204), even to a signed request.
    expect(await fetchSeeds(h.fetch, pool[0] as (typeof pool)[number])).toBeUndefined();
  });

  it('rejects a body over max_body_bytes with 413 body-too-large', async () => {
    h = await startHarness(testSettings({ PETFL_API_MAX_BODY_BYTES: '2048' }));
    expect(await post(h.fetch, new Uint8Array(4096))).toEqual({ status: 413, code: 'body-too-large' });
    expect(h.coordinator.status().counts).toEqual({ sum: 0, update: 0, sum2: 0 });
    expect(await (await h.fetch('/metrics')).text()).toMatch(
      /petfl_messages_rejected_total\{code="body-too-large"\} 1/,
    );
  });
});
