/**
 * The adversarial suite (docs/security.md): attacks on a real coordinator — the Node server over
 * HTTP, default settings (only the model length, port and model directory changed; phases are
 * held open by a manual clock instead of waiting out their 5 s minimums) — by participants that
 * lie. Each attack here succeeded against the coordinator before the defences it names.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Aggregation,
  decodeGlobalModel,
  deriveMask,
  groupFor,
  initCrypto,
  Masker,
  type MaskObject,
  maskParams,
  type PetCrypto,
  type RoundParameters,
  sealMessage,
  toBase64Url,
} from '@petfl/core';
import { SMALL_ORDER_X25519_HEX } from '@petfl/core/testing';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectAverage, settle } from '../test-support/harness.ts';
import { ManualClock } from '../test-support/manual-clock.ts';
import {
  type Fetch,
  fetchParams,
  fetchSeeds,
  fetchSumDict,
  identities,
  pickTasks,
  post,
  randomModel,
  type Selected,
  type SimParticipant,
  type SumParticipant,
  sum2Message,
  sumMessage,
  updateMessage,
  updateMessageFrom,
} from '../test-support/sim.ts';
import { listen, type RunningCoordinator } from './node/listen.ts';
import { parseSettings, type Settings } from './settings.ts';
import type { Phase } from './state-machine/coordinator.ts';
import type { RoundSummary } from './store/coordinator-store.ts';
import { MemoryModelStore } from './store/memory-model-store.ts';

const ADMIN = 'adversarial-suite-admin-token-0123456789';
const MODEL_LENGTH = 200;

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

interface Live {
  readonly running: RunningCoordinator;
  readonly clock: ManualClock;
  readonly fetch: Fetch;
  readonly settings: Settings;
  readonly dir: string;
}

let live: Live | undefined;
afterEach(async () => {
  await live?.running.close();
  if (live !== undefined) await rm(live.dir, { recursive: true, force: true });
  live = undefined;
});

/** A coordinator on a free port with the default settings (plus `env`), driven by a manual clock. */
async function start(env: Record<string, string> = {}): Promise<Live> {
  const dir = await mkdtemp(join(tmpdir(), 'petfl-adversarial-'));
  const settings = parseSettings(undefined, {
    PETFL_API_PORT: '0',
    PETFL_API_ADMIN_TOKEN: ADMIN,
    PETFL_MODEL_LENGTH: String(MODEL_LENGTH),
    PETFL_MODELS_DIR: dir,
    ...env,
  });
  const clock = new ManualClock();
  const running = await listen(settings, { crypto, clock, models: new MemoryModelStore() });
  const fetch: Fetch = (path, init) => globalThis.fetch(`${running.url}${path}`, init);
  live = { running, clock, fetch, settings, dir };
  return live;
}

const phaseOf = (l: Live): Phase => l.running.coordinator.status().phase;

/** Lets the phase in progress reach its time.min; waits until the coordinator has moved on from it. */
async function endPhase(l: Live, phase: 'sum' | 'update' | 'sum2'): Promise<void> {
  const roundId = l.running.coordinator.status().roundId;
  expect(phaseOf(l)).toBe(phase);
  l.clock.advance(l.settings.pet[phase].time.minMs);
  await settle(() => phaseOf(l) !== phase || l.running.coordinator.status().roundId !== roundId, 2000);
}

async function lastRound(l: Live): Promise<RoundSummary> {
  const res = await l.fetch('/admin/rounds?limit=1', { headers: { authorization: `Bearer ${ADMIN}` } });
  const { rounds } = (await res.json()) as { rounds: RoundSummary[] };
  return rounds[0] as RoundSummary;
}

async function modelBytes(l: Live): Promise<Uint8Array | undefined> {
  const res = await l.fetch('/model');
  return res.status === 204 ? undefined : new Uint8Array(await res.arrayBuffer());
}

const accepted = { status: 202 };

interface Honest {
  readonly params: RoundParameters;
  readonly sum: SumParticipant[];
  readonly update: Selected[];
}

/** Picks this round's honest sum and update participants from the pool and sends their Sum messages. */
async function sumPhase(
  l: Live,
  pool: readonly SimParticipant[],
  want: { sum: number; update: number },
): Promise<Honest> {
  const params = await fetchParams(l.fetch);
  const tasks = pickTasks(crypto, params, pool, want);
  for (const p of tasks.sum) expect(await post(l.fetch, sumMessage(crypto, params, p))).toEqual(accepted);
  return { params, ...tasks };
}

/** Sends the honest updates; returns their models and scalars. */
async function honestUpdates(
  l: Live,
  round: Honest,
  sumDict: ReadonlyMap<string, Uint8Array>,
  seed: number,
): Promise<{ models: Float32Array[]; scalars: number[] }> {
  const models: Float32Array[] = [];
  const scalars: number[] = [];
  for (const [i, p] of round.update.entries()) {
    const model = randomModel(MODEL_LENGTH, seed * 100 + i);
    const scalar = 1 + (i % 3);
    models.push(model);
    scalars.push(scalar);
    for (const part of updateMessage(crypto, round.params, p, sumDict, model, scalar)) {
      expect(await post(l.fetch, part)).toEqual(accepted);
    }
  }
  return { models, scalars };
}

/** Every sum participant opens its seeds and sends its Sum2. */
async function honestSum2(l: Live, round: Honest, sum: readonly SumParticipant[] = round.sum): Promise<void> {
  for (const p of sum) {
    const seeds = await fetchSeeds(l.fetch, p, round.params.coordinatorPk);
    expect(await post(l.fetch, sum2Message(crypto, round.params, p, seeds ?? new Map()))).toEqual(accepted);
  }
}

/** One honest round (3 sum, `updates` update participants) to its end; the models it averaged. */
async function honestRound(l: Live, pool: readonly SimParticipant[], seed: number, updates = 3) {
  const round = await sumPhase(l, pool, { sum: 3, update: updates });
  await endPhase(l, 'sum');
  const sent = await honestUpdates(l, round, (await fetchSumDict(l.fetch)) ?? new Map(), seed);
  await endPhase(l, 'update');
  await honestSum2(l, round);
  await endPhase(l, 'sum2');
  return { round, ...sent };
}

/** Adds `delta` to element `index` of a mask object's vector (mod the group order), in the group's arithmetic. */
function pushElement(object: MaskObject, index: number, delta: bigint): MaskObject {
  const params = maskParams(object.config);
  const group = groupFor(params);
  const push = new Array<bigint>(object.length).fill(0n);
  push[index] = delta % params.order;
  const vector = object.vector.slice();
  group.addInto(vector, group.fromBigInts(push));
  return { ...object, vector };
}

/** A seeded xorshift in [0, 1). */
function rng(seed: number): () => number {
  let x = (seed * 2654435761) >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

describe('adversarial: integrity of the aggregate (docs/security.md §1)', () => {
  it('an update pushed outside the clamp bound fails the round and keeps the previous model (20 seeded runs)', async () => {
    const l = await start();
    const pool = identities(crypto, 40, 1);
    await honestRound(l, pool, 0);
    expect((await lastRound(l)).outcome).toBe('completed');
    const before = await modelBytes(l);
    expect(before).toBeDefined();
    const { addShift, expShift } = maskParams(l.settings.mask);

    for (let run = 1; run <= 20; run++) {
      const random = rng(run);
      const round = await sumPhase(l, pool, { sum: 3, update: 4 });
      await endPhase(l, 'sum');
      const sumDict = (await fetchSumDict(l.fetch)) ?? new Map();
      const [attacker, ...honest] = round.update as [Selected, ...Selected[]];
      await honestUpdates(l, { ...round, update: honest }, sumDict, run);
      // The attacker masks a zero model with scalar 1, then adds `target` (500..100 000, far
      // beyond the bound A = 100) to one weight of its masked model.
      const index = Math.floor(random() * MODEL_LENGTH);
      const target = 500 + Math.floor(random() * 99_500);
      const { seed, masked } = new Masker(crypto, round.params.maskConfig).mask(new Float32Array(MODEL_LENGTH), 1);
      const forged = pushElement(masked, index, BigInt(target) * expShift);
      for (const part of updateMessageFrom(crypto, round.params, attacker, sumDict, forged, seed)) {
        expect(await post(l.fetch, part)).toEqual(accepted);
      }
      await endPhase(l, 'update');
      await honestSum2(l, round);
      await endPhase(l, 'sum2');
      const summary = await lastRound(l);
      expect(summary.outcome, `run ${run}`).toBe('failed');
      expect(summary.failureReason).toContain(`weight ${index} of the aggregate`);
      expect(summary.failureReason).toContain(`±${addShift}`);
      expect(await modelBytes(l)).toEqual(before);
    }
  });

  it('needs 3 sum participants under the defaults: one Sum message no longer closes the sum phase', async () => {
    const l = await start();
    const pool = identities(crypto, 40, 2);
    const params = await fetchParams(l.fetch);
    const [lone] = pickTasks(crypto, params, pool, { sum: 1, update: 0 }).sum;
    expect(await post(l.fetch, sumMessage(crypto, params, lone as SumParticipant))).toEqual(accepted);
    l.clock.advance(l.settings.pet.sum.time.minMs);
    await settle();
    expect(phaseOf(l)).toBe('sum');
    expect((await l.fetch('/sums')).status).toBe(204);
  });

  it('a mask backed by fewer than a majority of the sum dictionary does not win (forged by two sum participants)', async () => {
    const l = await start();
    const pool = identities(crypto, 60, 3);
    const round = await sumPhase(l, pool, { sum: 5, update: 3 });
    await endPhase(l, 'sum');
    const sumDict = (await fetchSumDict(l.fetch)) ?? new Map();
    await honestUpdates(l, round, sumDict, 3);
    await endPhase(l, 'update');
    const [honest, ...sybils] = round.sum as [SumParticipant, SumParticipant, SumParticipant];
    await honestSum2(l, round, [honest]);
    // Two sum participants of the attacker's open their seeds like anyone, then both send the
    // true aggregated mask less one unit on weight 0: the model would shift, within the bound.
    for (const p of sybils.slice(0, 2)) {
      const seeds = (await fetchSeeds(l.fetch, p, round.params.coordinatorPk)) ?? new Map();
      const masks = new Aggregation(round.params.maskConfig, MODEL_LENGTH);
      for (const sealed of seeds.values()) {
        const seed = crypto.openSealed(sealed, p.ephemeral, 'seed');
        masks.aggregate(deriveMask(crypto, round.params.maskConfig, seed, MODEL_LENGTH));
      }
      const order = maskParams(round.params.maskConfig).order;
      const forged = pushElement(masks.toMaskObject(), 0, order - maskParams(round.params.maskConfig).expShift);
      const message = sealMessage(
        crypto,
        {
          participantPk: p.keys.publicKey,
          coordinatorPk: round.params.coordinatorPk,
          payload: {
            kind: 'sum2',
            sum2: { sumSignature: p.selection.sumSignature, aggregatedMask: forged, rejectedSeeds: [] },
          },
        },
        p.keys.secretKey,
      );
      expect(await post(l.fetch, message)).toEqual(accepted);
    }
    await endPhase(l, 'sum2');
    const summary = await lastRound(l);
    expect(summary.outcome).toBe('failed');
    expect(summary.failureReason).toContain('fewer than a majority (3) of the 5 sum participants');
    expect(await modelBytes(l)).toBeUndefined();
  });
});

describe('adversarial: availability (docs/security.md §3)', () => {
  const SMALL_ORDER_HEX = SMALL_ORDER_X25519_HEX;
  const fromHex = (hex: string) => Uint8Array.from(hex.match(/../g) ?? [], (b) => Number.parseInt(b, 16));

  it('refuses every small-order or non-canonical ephemeral key (4xx), and the honest round completes', async () => {
    const l = await start();
    const pool = identities(crypto, 60, 4);
    const params = await fetchParams(l.fetch);
    const { sum } = pickTasks(crypto, params, pool, { sum: 3 + SMALL_ORDER_HEX.length, update: 0 });
    const attackers = sum.slice(3);
    for (const [i, hex] of SMALL_ORDER_HEX.entries()) {
      const p = attackers[i] as SumParticipant;
      const bad = { ...p, ephemeral: { ...p.ephemeral, publicKey: fromHex(hex) } };
      // And with the top bit set (X25519 ignores it): the same point, a non-canonical encoding.
      const top = fromHex(hex);
      top[31] = (top[31] as number) | 0x80;
      for (const key of [fromHex(hex), top]) {
        const res = await post(
          l.fetch,
          sumMessage(crypto, params, { ...bad, ephemeral: { ...p.ephemeral, publicKey: key } }),
        );
        expect(res, hex).toEqual({ status: 400, code: 'invalid-key' });
      }
    }
    expect(l.running.coordinator.status().counts.sum).toBe(0);
    const round = {
      params,
      sum: sum.slice(0, 3),
      update: pickTasks(crypto, params, pool, { sum: 0, update: 3 }).update,
    };
    for (const p of round.sum) expect(await post(l.fetch, sumMessage(crypto, params, p))).toEqual(accepted);
    await endPhase(l, 'sum');
    const sent = await honestUpdates(l, round, (await fetchSumDict(l.fetch)) ?? new Map(), 4);
    await endPhase(l, 'update');
    await honestSum2(l, round);
    await endPhase(l, 'sum2');
    expect((await lastRound(l)).outcome).toBe('completed');
    const global = decodeGlobalModel((await modelBytes(l)) as Uint8Array);
    expectAverage(l.settings, global.model, sent.models, sent.scalars, (r) => Math.abs(r) * 2 ** -23);
  });

  it('one hostile sum participant naming honest updates in its Sum2 bans no one: the majority vote wins', async () => {
    const l = await start();
    const pool = identities(crypto, 60, 7);
    const round = await sumPhase(l, pool, { sum: 3, update: 3 });
    await endPhase(l, 'sum');
    const sent = await honestUpdates(l, round, (await fetchSumDict(l.fetch)) ?? new Map(), 7);
    await endPhase(l, 'update');
    const [liar, ...honest] = round.sum as [SumParticipant, ...SumParticipant[]];
    const victim = round.update[0] as Selected;
    // The liar opens its seeds like anyone, leaves the victim's mask out and names it as rejected.
    const seeds = (await fetchSeeds(l.fetch, liar, round.params.coordinatorPk)) ?? new Map();
    const victimPk = toBase64Url(victim.keys.publicKey);
    const masks = new Aggregation(round.params.maskConfig, MODEL_LENGTH);
    for (const [updatePk, sealed] of seeds) {
      if (updatePk === victimPk) continue;
      masks.aggregate(
        deriveMask(crypto, round.params.maskConfig, crypto.openSealed(sealed, liar.ephemeral, 'seed'), MODEL_LENGTH),
      );
    }
    const lie = (rejectedSeeds: Uint8Array[]) =>
      sealMessage(
        crypto,
        {
          participantPk: liar.keys.publicKey,
          coordinatorPk: round.params.coordinatorPk,
          payload: {
            kind: 'sum2',
            sum2: { sumSignature: liar.selection.sumSignature, aggregatedMask: masks.toMaskObject(), rejectedSeeds },
          },
        },
        liar.keys.secretKey,
      );
    // Naming a key that sent no update is refused outright.
    expect(await post(l.fetch, lie([crypto.signingKeyPair().publicKey]))).toEqual({
      status: 400,
      code: 'invalid-field',
    });
    expect(await post(l.fetch, lie([victim.keys.publicKey]))).toEqual(accepted);
    await honestSum2(l, round, honest);
    await endPhase(l, 'sum2');
    expect((await lastRound(l)).outcome).toBe('completed');
    expect(l.running.coordinator.status().banned).toEqual({ participants: 0, subjects: 0 });
    const global = decodeGlobalModel((await modelBytes(l)) as Uint8Array);
    expectAverage(l.settings, global.model, sent.models, sent.scalars, (r) => Math.abs(r) * 2 ** -23);
  });

  it('garbage mask seeds cost one round: it fails naming the sender, who is refused from then on', async () => {
    const l = await start();
    const pool = identities(crypto, 60, 5);
    const round = await sumPhase(l, pool, { sum: 3, update: 4 });
    await endPhase(l, 'sum');
    const sumDict = (await fetchSumDict(l.fetch)) ?? new Map();
    const [attacker, ...honest] = round.update as [Selected, ...Selected[]];
    await honestUpdates(l, { ...round, update: honest }, sumDict, 5);
    const { seed, masked } = new Masker(crypto, round.params.maskConfig).mask(randomModel(MODEL_LENGTH, 9), 1);
    const garbage = (s: Uint8Array) => crypto.randomBytes(crypto.seal(s, crypto.encryptKeyPair().publicKey).length);
    for (const part of updateMessageFrom(crypto, round.params, attacker, sumDict, masked, seed, undefined, garbage)) {
      expect(await post(l.fetch, part)).toEqual(accepted);
    }
    await endPhase(l, 'update');
    await honestSum2(l, round); // each sum participant skips the seed it cannot open and reports it
    await endPhase(l, 'sum2');
    const failed = await lastRound(l);
    expect(failed.outcome).toBe('failed');
    expect(failed.failureReason).toContain(toBase64Url(attacker.keys.publicKey));
    expect(l.running.coordinator.status().banned.participants).toBe(1);

    // The next round: the attacker's key is refused at once, before any other check; the honest
    // participants complete the round without it.
    const without = pool.filter((p) => p.pk !== toBase64Url(attacker.keys.publicKey));
    const next = await sumPhase(l, without, { sum: 3, update: 3 });
    const asSum = sumMessage(crypto, next.params, { ...attacker, ephemeral: crypto.encryptKeyPair() });
    expect(await post(l.fetch, asSum)).toEqual({ status: 403, code: 'banned' });
    await endPhase(l, 'sum');
    const sent = await honestUpdates(l, next, (await fetchSumDict(l.fetch)) ?? new Map(), 50);
    await endPhase(l, 'update');
    await honestSum2(l, next);
    await endPhase(l, 'sum2');
    expect((await lastRound(l)).outcome).toBe('completed');
    const global = decodeGlobalModel((await modelBytes(l)) as Uint8Array);
    expectAverage(l.settings, global.model, sent.models, sent.scalars, (r) => Math.abs(r) * 2 ** -23);
  });
});

describe('adversarial: privacy against Sybils (docs/security.md §2)', () => {
  /** Two throwaway identities send updates with scalar 0 around one honest update (count.min = 3). */
  async function nMinusOne(l: Live, tokens?: { attacker: string; honest: (i: number) => string }) {
    const as = (token: string | undefined): Fetch =>
      token === undefined
        ? l.fetch
        : (path, init = {}) =>
            l.fetch(path, { ...init, headers: { ...init.headers, authorization: `Bearer ${token}` } });
    const pool = identities(crypto, 60, 6);
    const params = await fetchParams(l.fetch);
    const { sum, update } = pickTasks(crypto, params, pool, { sum: 3, update: 3 });
    for (const [i, p] of sum.entries()) {
      expect(await post(as(tokens?.honest(i)), sumMessage(crypto, params, p))).toEqual(accepted);
    }
    await endPhase(l, 'sum');
    const sumDict = (await fetchSumDict(l.fetch)) ?? new Map();
    const [victim, ...sybils] = update as [Selected, Selected, Selected];
    const model = randomModel(MODEL_LENGTH, 66);
    for (const part of updateMessage(crypto, params, victim, sumDict, model, 1)) {
      expect(await post(as(tokens?.honest(9)), part)).toEqual(accepted);
    }
    const answers = [];
    for (const p of sybils) {
      for (const part of updateMessage(crypto, params, p, sumDict, new Float32Array(MODEL_LENGTH), 0)) {
        answers.push(await post(as(tokens?.attacker), part));
      }
    }
    return { model, answers, round: { params, sum, update } };
  }

  it('under open admission the attack works (what token admission is for): the model is the victim’s', async () => {
    const l = await start({ PETFL_SAFETY_SCALAR_MIN: '0' });
    const { model, answers, round } = await nMinusOne(l);
    expect(answers).toEqual([accepted, accepted]);
    await endPhase(l, 'update');
    await honestSum2(l, round);
    await endPhase(l, 'sum2');
    const global = decodeGlobalModel((await modelBytes(l)) as Uint8Array);
    expectAverage(l.settings, global.model, [model], [1], (r) => Math.abs(r) * 2 ** -23);
  });

  it('under token admission one subject cannot bring a second identity: the round never averages the victim alone', async () => {
    const { generateKeyPair, exportSPKI, SignJWT } = await import('jose');
    const keys = await generateKeyPair('EdDSA', { extractable: true });
    const token = (subject: string) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'EdDSA' })
        .setSubject(subject)
        .setExpirationTime('10m')
        .sign(keys.privateKey);
    const l = await start({
      PETFL_ADMISSION_KIND: 'token',
      PETFL_ADMISSION_JWT_PUBLIC_KEY: await exportSPKI(keys.publicKey),
      PETFL_SAFETY_SCALAR_MIN: '0',
    });
    const honest = await Promise.all([0, 1, 2, 9].map(async (i) => [i, await token(`user-${i}`)] as const));
    const byIndex = new Map(honest);
    const { answers } = await nMinusOne(l, {
      attacker: await token('attacker'),
      honest: (i) => byIndex.get(i) as string,
    });
    expect(answers[0]).toEqual(accepted);
    expect(answers[1]).toEqual({ status: 401, code: 'not-admitted' });
    // Without a token at all, nothing gets in either.
    expect((await l.fetch('/message', { method: 'POST', body: new Uint8Array(300) })).status).toBe(401);
    // The update phase has 2 of the 3 updates it needs: it times out, no model is released.
    l.clock.advance(l.settings.pet.update.time.maxMs);
    await settle(() => phaseOf(l) !== 'update', 2000);
    const summary = await lastRound(l);
    expect(summary.outcome).toBe('failed');
    expect(summary.failureReason).toContain('update phase timed out: 2 messages accepted, at least 3 needed');
    expect(await modelBytes(l)).toBeUndefined();
  });
});
