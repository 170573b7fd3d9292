/**
 * Several coordinator instances on one Redis store (ADR 0008), in one process: three apps on the
 * same key prefix, each with its own manual clock (phases end by count, never by wall time).
 * Messages go to the instances in turn, as an ordinary load balancer sends them; the leader ends
 * the phases from the store's counts and unmasks the sum of every instance's partial aggregate.
 */

import { decodeGlobalModel } from '@petfl/core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { expectAverage, type Harness, identities, startHarness, testSettings } from '../test-support/harness.ts';
import { ManualClock } from '../test-support/manual-clock.ts';
import { deletePrefix, probeRedisFor, REDIS_REQUIRED, REDIS_URL, testPrefix } from '../test-support/redis.ts';
import {
  type Fetch,
  fetchParams,
  fetchSeeds,
  fetchSumDict,
  pickTasks,
  post,
  randomModel,
  type SumParticipant,
  sum2Message,
  sumMessage,
  updateMessage,
} from '../test-support/sim.ts';
import type { CoordinatorStore, StoreNotice } from './store/coordinator-store.ts';
import { MemoryModelStore } from './store/memory-model-store.ts';
import { RedisCoordinatorStore } from './store/redis-store.ts';
import { StoreError } from './store/store-error.ts';

const unreachable = await probeRedisFor('cluster tests');

const prefixes: string[] = [];
/** What the instances logged in the test running now (printed when it fails). */
const logs: string[] = [];
const open: Harness[] = [];
afterEach(async (context) => {
  if (context.task.result?.state === 'fail') console.warn(logs.join('\n'));
  logs.length = 0;
  for (const h of open.splice(0)) await h.close().catch(() => undefined);
  models = new MemoryModelStore();
});
afterAll(async () => {
  for (const prefix of prefixes) await deletePrefix(prefix);
});

const LEASE_MS = 1500;
/** The served model is f32: one rounding of the exact average. */
const F32 = (r: number) => Math.abs(r) * 2 ** -24;

/** One model store for every instance, as a shared directory or bucket would be. */
let models = new MemoryModelStore();

/** Notices a deaf instance does not hear (a pub/sub message lost on its way). */
const deaf = new Set<string>();

/** Instances whose next saveRound fails (as a write under a superseded lease token would). */
const failSaveRound = new Set<string>();

/** The store as `name` sees it: its notices stop while `deaf` holds its name. */
function hearing(store: CoordinatorStore, name: string): CoordinatorStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'saveRound' && failSaveRound.delete(name)) {
        return async () => {
          throw new StoreError('saveRound: fenced: lease token 1 was superseded by 2');
        };
      }
      if (prop === 'subscribe') {
        return (listener: (notice: StoreNotice) => void) =>
          target.subscribe((notice) => {
            if (!deaf.has(name)) listener(notice);
          });
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function instance(
  prefix: string,
  name: string,
  clock = new ManualClock(),
  env: Record<string, string> = {},
): Promise<Harness> {
  const settings = testSettings({
    ...env,
    PETFL_STORE_KIND: 'redis',
    PETFL_STORE_REDIS_URL: REDIS_URL,
    PETFL_CLUSTER_INSTANCE: name,
    PETFL_CLUSTER_LEASE_MS: String(LEASE_MS),
    PETFL_CLUSTER_CHECKPOINT_EVERY: '3',
  });
  const log = (level: string) => (obj: object, msg?: string) =>
    logs.push(`${name} ${level} ${msg ?? ''} ${JSON.stringify(obj)}`);
  const h = await startHarness(settings, {
    store: hearing(await RedisCoordinatorStore.connect({ url: REDIS_URL, keyPrefix: prefix }), name),
    models,
    clock,
    logger: { debug: () => {}, info: log('info'), warn: log('warn'), error: log('error') },
  });
  open.push(h);
  return h;
}

/** Polls (real time: pub/sub notices travel through Redis) until `ok` holds. */
async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Every instance shows `phase` of `roundId`. */
function allIn(hs: readonly Harness[], roundId: number, phase: string) {
  return () => hs.every((h) => h.coordinator.status().roundId === roundId && h.coordinator.status().phase === phase);
}

/** One round with its messages spread over `hs` in turn; returns what the average must be. */
async function spreadRound(
  hs: readonly Harness[],
  seed: number,
  onUpdates?: (sent: number) => Promise<void>,
  maxChunkData?: number,
) {
  const crypto = hs[0]?.crypto;
  if (crypto === undefined) throw new Error('no instance');
  let turn = 0;
  const next: () => Fetch = () => {
    const h = hs[turn++ % hs.length];
    if (h === undefined) throw new Error('unreachable');
    return h.fetch;
  };
  const params = await fetchParams(next());
  await until('every instance in the sum phase', allIn(hs, params.roundId, 'sum'));
  const pool = identities(crypto, 80, seed);
  const { sum, update } = pickTasks(crypto, params, pool, { sum: 3, update: 10 });
  for (const p of sum) expect(await post(next(), sumMessage(crypto, params, p))).toEqual({ status: 202 });
  await until('every instance in the update phase', allIn(hs, params.roundId, 'update'));
  const sumDict = (await fetchSumDict(next())) ?? new Map();
  expect(sumDict.size).toBe(3);
  const models: Float32Array[] = [];
  const scalars: number[] = [];
  for (const [i, p] of update.entries()) {
    const model = randomModel(params.modelLength, seed * 100 + i);
    const scalar = 1 + (i % 4);
    models.push(model);
    scalars.push(scalar);
    // Multipart: each chunk to the next instance, so no instance sees a whole message.
    for (const part of updateMessage(crypto, params, p, sumDict, model, scalar, maxChunkData)) {
      expect(await post(next(), part)).toEqual({ status: 202 });
    }
    await onUpdates?.(i + 1);
  }
  await until('every instance in the sum2 phase', allIn(hs, params.roundId, 'sum2'));
  for (const p of sum) {
    const seeds = await fetchSeeds(next(), p.pk);
    expect(seeds?.size).toBe(10);
    expect(await post(next(), sum2Message(crypto, params, p, seeds ?? new Map()))).toEqual({ status: 202 });
  }
  return { roundId: params.roundId, models, scalars };
}

describe.skipIf(unreachable !== undefined && !REDIS_REQUIRED)('three coordinator instances on one Redis', () => {
  it('one leads, any instance takes any message, the round averages exactly and every instance serves the model', async () => {
    expect(unreachable).toBeUndefined();
    const prefix = testPrefix();
    prefixes.push(prefix);
    const hs = [await instance(prefix, 'a'), await instance(prefix, 'b'), await instance(prefix, 'c')];
    expect(hs.map((h) => h.coordinator.status().role)).toEqual(['leader', 'follower', 'follower']);
    const leading = async (h: Harness) => (await (await h.fetch('/metrics')).text()).match(/^petfl_leader (\d)$/m)?.[1];
    expect(await Promise.all(hs.map(leading))).toEqual(['1', '0', '0']);

    for (const seed of [1, 2]) {
      const run = await spreadRound(hs, seed);
      for (const h of hs) {
        await until(`${h.coordinator.instance} serves round ${run.roundId}'s model`, async () => {
          const res = await h.fetch('/model');
          return (
            res.status === 200 && decodeGlobalModel(new Uint8Array(await res.arrayBuffer())).roundId === run.roundId
          );
        });
      }
      const res = await hs[2]?.fetch('/model');
      const global = decodeGlobalModel(new Uint8Array(await (res as Response).arrayBuffer()));
      expectAverage(hs[0]?.settings ?? testSettings(), global.model, run.models, run.scalars, F32);
      // One model, one ETag on every instance: a client revalidates at any of them (protocol.md §3.10).
      const tags = await Promise.all(hs.map(async (h) => (await h.fetch('/model')).headers.get('etag')));
      expect(tags[0]).toMatch(new RegExp(`^"${run.roundId}-[A-Za-z0-9_-]+"$`));
      expect(new Set(tags).size).toBe(1);
      for (const h of hs) {
        const again = await h.fetch('/model', { headers: { 'if-none-match': tags[0] ?? '' } });
        expect(again.status).toBe(304);
      }
      const history = await hs[1]?.coordinator.history(10);
      expect(history?.find((r) => r.roundId === run.roundId)?.outcome).toBe('completed');
    }
  });

  it('a multipart update whose chunks reach different instances is reassembled in the store', async () => {
    const prefix = testPrefix();
    prefixes.push(prefix);
    const hs = [await instance(prefix, 'a'), await instance(prefix, 'b'), await instance(prefix, 'c')];
    // 1000 f32 weights: a ~4 KB masked model in 1 KB chunks, each chunk to the next instance.
    const run = await spreadRound(hs, 3, undefined, 1024);
    const leader = hs[0] as Harness;
    await until('the round completes', async () =>
      (await leader.coordinator.history(5)).some((r) => r.roundId === run.roundId),
    );
    const res = await leader.fetch('/model');
    const global = decodeGlobalModel(new Uint8Array(await res.arrayBuffer()));
    expect(global.roundId).toBe(run.roundId);
    expectAverage(leader.settings, global.model, run.models, run.scalars, F32);
  });

  it('token admission: one subject cannot bring a second identity through another instance', async () => {
    const { generateKeyPair, exportSPKI, SignJWT } = await import('jose');
    const keys = await generateKeyPair('EdDSA', { extractable: true });
    const env = { PETFL_ADMISSION_KIND: 'token', PETFL_ADMISSION_JWT_PUBLIC_KEY: await exportSPKI(keys.publicKey) };
    const prefix = testPrefix();
    prefixes.push(prefix);
    const hs = [await instance(prefix, 'a', undefined, env), await instance(prefix, 'b', undefined, env)];
    const [a, b] = hs as [Harness, Harness];
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA' })
      .setSubject('attacker')
      .setExpirationTime('10m')
      .sign(keys.privateKey);
    const as =
      (h: Harness): Fetch =>
      (path, init = {}) =>
        h.fetch(path, { ...init, headers: { ...init.headers, authorization: `Bearer ${token}` } });
    const params = await fetchParams(a.fetch);
    await until('both in sum', allIn(hs, params.roundId, 'sum'));
    const { sum } = pickTasks(a.crypto, params, identities(a.crypto, 80, 12), { sum: 2, update: 0 });
    const [first, second] = sum as [SumParticipant, SumParticipant];
    expect(await post(as(a), sumMessage(a.crypto, params, first))).toEqual({ status: 202 });
    // The same subject with a second key, at the other instance: refused, it is counted in the store.
    expect(await post(as(b), sumMessage(a.crypto, params, second))).toEqual({ status: 401, code: 'not-admitted' });
    // The first key again (a retry) is still its own: a duplicate, not a second identity.
    expect(await post(as(b), sumMessage(a.crypto, params, first))).toEqual({ status: 409, code: 'duplicate-message' });
  });

  it('a follower that missed the phase change catches up when a message for the new phase reaches it', async () => {
    const prefix = testPrefix();
    prefixes.push(prefix);
    const clocks = [new ManualClock(), new ManualClock()];
    const hs = [await instance(prefix, 'a', clocks[0]), await instance(prefix, 'b', clocks[1])];
    const [a, b] = hs as [Harness, Harness];
    const params = await fetchParams(a.fetch);
    await until('both in sum', allIn(hs, params.roundId, 'sum'));
    deaf.add('b');
    try {
      const { sum, update } = pickTasks(a.crypto, params, identities(a.crypto, 80, 14), { sum: 3, update: 10 });
      for (const p of sum) expect(await post(a.fetch, sumMessage(a.crypto, params, p))).toEqual({ status: 202 });
      await until('the leader in update', () => a.coordinator.status().phase === 'update');
      expect(b.coordinator.status().phase).toBe('sum'); // it heard nothing
      const sumDict = (await fetchSumDict(a.fetch)) ?? new Map();
      const [message] = updateMessage(a.crypto, params, update[0] as SumParticipant, sumDict, randomModel(1000, 1), 1);
      clocks[1]?.advance(100);
      expect(await post(b.fetch, message as Uint8Array)).toEqual({ status: 202 });
      expect(b.coordinator.status().phase).toBe('update');
    } finally {
      deaf.delete('b');
    }
  });

  it('a phase change whose write failed is retried on the store’s counts, not the ones the failed transition dropped', async () => {
    const prefix = testPrefix();
    prefixes.push(prefix);
    const clock = new ManualClock();
    const a = await instance(prefix, 'a', clock);
    const params = await fetchParams(a.fetch);
    const { sum } = pickTasks(a.crypto, params, identities(a.crypto, 80, 15), { sum: 3, update: 0 });
    for (const p of sum.slice(0, 2))
      expect(await post(a.fetch, sumMessage(a.crypto, params, p))).toEqual({ status: 202 });
    // The third Sum fills the phase (count.max 3); the transition's saveRound fails once.
    failSaveRound.add('a');
    expect(await post(a.fetch, sumMessage(a.crypto, params, sum[2] as SumParticipant))).toEqual({ status: 202 });
    expect(a.coordinator.status().phase).toBe('sum');
    // No message comes any more: the retry alone must end the phase.
    clock.advance(1000);
    await until('the sum phase ends on the retry', () => a.coordinator.status().phase === 'update');
  });

  it('the store decides count.max across instances: the phase takes exactly count.max, the rest get phase-full or wrong-phase', async () => {
    const prefix = testPrefix();
    prefixes.push(prefix);
    const hs = [await instance(prefix, 'a'), await instance(prefix, 'b')];
    const crypto = hs[0]?.crypto;
    if (crypto === undefined) throw new Error('no instance');
    const params = await fetchParams((hs[0] as Harness).fetch);
    await until('both in sum', allIn(hs, params.roundId, 'sum'));
    const pool = identities(crypto, 200, 9);
    const { sum } = pickTasks(crypto, params, pool, { sum: 8, update: 0 });
    // count.max is 3: eight sum messages at once, alternating instances.
    const answers = await Promise.all(
      sum.map((p, i) => post((hs[i % 2] as Harness).fetch, sumMessage(crypto, params, p))),
    );
    expect(answers.filter((a) => a.status === 202)).toHaveLength(3);
    for (const a of answers.filter((a) => a.status !== 202)) expect(['phase-full', 'wrong-phase']).toContain(a.code);
    await until('both in update', allIn(hs, params.roundId, 'update'));
    expect((await fetchSumDict((hs[1] as Harness).fetch))?.size).toBe(3);
  });

  it('the leader stops without a word mid-update: a follower takes the lease and the round completes with every update answered 202', async () => {
    const prefix = testPrefix();
    prefixes.push(prefix);
    const clocks = [new ManualClock(), new ManualClock(), new ManualClock()];
    const hs = [
      await instance(prefix, 'a', clocks[0]),
      await instance(prefix, 'b', clocks[1]),
      await instance(prefix, 'c', clocks[2]),
    ];
    const [leader, ...followers] = hs as [Harness, Harness, Harness];
    expect(leader.coordinator.status().role).toBe('leader');
    let killed = false;
    const run = await spreadRound(hs, 5, async (sent) => {
      if (sent !== 5 || killed) return;
      killed = true;
      // A crash: the leader neither renews its lease nor releases it (its clock never moves again),
      // and no message reaches it any more; its accepted updates are in the store's logs.
      hs.splice(0, 1);
      await until('a follower takes the lease after it lapses', async () => {
        for (const c of clocks.slice(1)) c.advance(LEASE_MS / 3);
        await new Promise((resolve) => setTimeout(resolve, 50));
        return followers.some((f) => f.coordinator.status().role === 'leader');
      });
    });
    const successor = followers.find((f) => f.coordinator.status().role === 'leader') as Harness;
    await until('the new leader completes the round', async () =>
      (await successor.coordinator.history(5)).some((r) => r.roundId === run.roundId),
    );
    const summary = (await successor.coordinator.history(5)).find((r) => r.roundId === run.roundId);
    expect(summary?.outcome, summary?.failureReason).toBe('completed');
    expect(summary?.participants.update).toBe(10);
    const res = await successor.fetch('/model');
    const global = decodeGlobalModel(new Uint8Array(await res.arrayBuffer()));
    expect(global.roundId).toBe(run.roundId);
    expectAverage(successor.settings, global.model, run.models, run.scalars, F32);
  });
});
