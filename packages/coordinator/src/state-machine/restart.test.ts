/**
 * Restart on Redis (ADR 0005): stop the coordinator in the middle of the
 * update phase and start a new one on the same Redis and model directory.
 * Within the deadline the round continues and no accepted update is lost;
 * past it the round fails cleanly and the next one completes. The latest
 * global model survives either way.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeGlobalModel } from '@petfl/core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
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
import { deletePrefix, probeRedisFor, REDIS_REQUIRED, REDIS_URL, testPrefix } from '../../test-support/redis.ts';
import {
  fetchParams,
  fetchSeeds,
  fetchSumDict,
  pickTasks,
  post,
  randomModel,
  sum2Message,
  sumMessage,
  updateMessage,
} from '../../test-support/sim.ts';
import { FsModelStore } from '../store/fs-model-store.ts';
import { RedisCoordinatorStore } from '../store/redis-store.ts';

const unreachable = await probeRedisFor('restart tests');

const dirs: string[] = [];
const prefixes: string[] = [];
const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.close();
});
afterAll(async () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  for (const prefix of prefixes) await deletePrefix(prefix);
});

async function coordinatorOn(prefix: string, dir: string, clock: ManualClock): Promise<Harness> {
  const h = await startHarness(testSettings({ PETFL_PET_UPDATE_TIME_MAX_MS: '10000' }), {
    store: new RedisCoordinatorStore({ url: REDIS_URL, keyPrefix: prefix }),
    models: new FsModelStore(dir),
    clock,
  });
  open.push(h);
  return h;
}

describe.skipIf(unreachable !== undefined && !REDIS_REQUIRED)('coordinator restart on Redis', () => {
  it('continues a round stopped in the middle of update: no accepted update is lost', async () => {
    expect(unreachable).toBeUndefined();
    const prefix = testPrefix();
    const dir = mkdtempSync(join(tmpdir(), 'petfl-restart-'));
    prefixes.push(prefix);
    dirs.push(dir);
    const clock = new ManualClock();
    const a = await coordinatorOn(prefix, dir, clock);
    const pool = identities(a.crypto, 80, 30);
    const first = await runRound(a, pool, { sum: 3, update: 10 }, 1);
    const params = await fetchParams(a.fetch);
    const { sum, update } = pickTasks(a.crypto, params, pool, { sum: 3, update: 10 });
    for (const p of sum) await post(a.fetch, sumMessage(a.crypto, params, p));
    const sumDict = (await fetchSumDict(a.fetch)) ?? new Map();
    const models = update.map((_, i) => randomModel(params.modelLength, 700 + i));
    const scalars = update.map((_, i) => 1 + (i % 3));
    const send = async (h: Harness, i: number) => {
      const [msg] = updateMessage(
        h.crypto,
        params,
        update[i] as never,
        sumDict,
        models[i] as Float32Array,
        scalars[i] as number,
      );
      return post(h.fetch, msg as Uint8Array);
    };
    for (let i = 0; i < 6; i++) expect(await send(a, i)).toEqual({ status: 202 });

    // stop A mid-update; B starts on the same Redis 4 s later (within update's 10 s)
    await a.close();
    open.splice(open.indexOf(a), 1);
    clock.advance(4000);
    const b = await coordinatorOn(prefix, dir, clock);
    expect(b.coordinator.status()).toMatchObject({
      roundId: params.roundId,
      phase: 'update',
      counts: { sum: 3, update: 6 },
    });
    // the previous round's model is served at once
    const served = decodeGlobalModel(new Uint8Array(await (await b.fetch('/model')).arrayBuffer()));
    expect(served.roundId).toBe(first.roundId);
    // an update accepted by A is still a duplicate for B
    expect(await send(b, 0)).toEqual({ status: 409, code: 'duplicate-message' });
    for (let i = 6; i < 10; i++) expect(await send(b, i)).toEqual({ status: 202 });
    for (const p of sum) {
      const seeds = (await fetchSeeds(b.fetch, p.pk)) ?? new Map();
      expect(seeds.size).toBe(10);
      expect((await post(b.fetch, sum2Message(b.crypto, params, p, seeds))).status).toBe(202);
    }
    const global = decodeGlobalModel(new Uint8Array(await (await b.fetch('/model')).arrayBuffer()));
    expect(global.roundId).toBe(params.roundId);
    expectAverage(b.settings, global.model, models, scalars, (r) => Math.abs(r) * 2 ** -24);
  });

  it('fails a round whose deadline passed while it was down, keeps the model, and completes the next', async () => {
    expect(unreachable).toBeUndefined();
    const prefix = testPrefix();
    const dir = mkdtempSync(join(tmpdir(), 'petfl-restart-'));
    prefixes.push(prefix);
    dirs.push(dir);
    const clock = new ManualClock();
    const a = await coordinatorOn(prefix, dir, clock);
    const pool = identities(a.crypto, 80, 31);
    const first = await runRound(a, pool, { sum: 3, update: 10 }, 2);
    const params = await fetchParams(a.fetch);
    const { sum } = pickTasks(a.crypto, params, pool, { sum: 3, update: 0 });
    for (const p of sum) await post(a.fetch, sumMessage(a.crypto, params, p));
    expect(a.coordinator.status().phase).toBe('update');
    await a.close();
    open.splice(open.indexOf(a), 1);

    clock.advance(10_000); // update's time.max passes while no coordinator runs
    const b = await coordinatorOn(prefix, dir, clock);
    await settle(() => b.coordinator.status().phase === 'sum');
    const { rounds } = (await (await b.admin('/rounds')).json()) as {
      rounds: { roundId: number; outcome: string; failureReason?: string }[];
    };
    expect(rounds[0]).toMatchObject({ roundId: params.roundId, outcome: 'failed' });
    expect(rounds[0]?.failureReason).toMatch(/restarted after the update phase deadline/);
    expect(b.coordinator.status().roundId).toBe(params.roundId + 1);
    expect(b.coordinator.status().latestModelRoundId).toBe(first.roundId);

    const next = await runRound(b, pool, { sum: 3, update: 10 }, 3);
    expectAverage(b.settings, next.global.model, next.models, next.scalars, (r) => Math.abs(r) * 2 ** -24);
  });
});
