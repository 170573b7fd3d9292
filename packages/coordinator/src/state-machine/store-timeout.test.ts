/**
 * A store write that times out but is applied anyway (docs/security.md §5): Redis behind a
 * proxy that holds back its replies, so the coordinator's addUpdate times out while Redis has
 * recorded the update — the participant, its seeds and the masked model in this instance's update
 * log. Before, the in-memory aggregate lacked that update, the resend got `duplicate-message`
 * (which the SDK takes as delivered), and the round was lost. Now the coordinator reloads the
 * round from the store after the error: its partial aggregate is rebuilt from its checkpoint and
 * log (docs/decisions/0008-many-instances.md), the round completes with every update exactly once,
 * and a restart continues it.
 */

import { decodeGlobalModel, toBase64Url } from '@petfl/core';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startDelayProxy } from '../../test-support/delay-proxy.ts';
import { expectAverage, type Harness, startHarness, testSettings } from '../../test-support/harness.ts';
import { ManualClock } from '../../test-support/manual-clock.ts';
import { deletePrefix, probeRedisFor, REDIS_REQUIRED, REDIS_URL, testPrefix } from '../../test-support/redis.ts';
import {
  fetchParams,
  fetchSeeds,
  fetchSumDict,
  identities,
  pickTasks,
  post,
  randomModel,
  sum2Message,
  sumMessage,
  updateMessage,
} from '../../test-support/sim.ts';
import { RedisCoordinatorStore } from '../store/redis-store.ts';
import { combinePartials } from './round.ts';

const unreachable = await probeRedisFor('store-timeout tests');

const prefixes: string[] = [];
let harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses) await h.close();
  harnesses = [];
});
afterAll(async () => {
  if (unreachable === undefined) for (const p of prefixes) await deletePrefix(p);
});

describe.skipIf(unreachable !== undefined && !REDIS_REQUIRED)('store timeout', () => {
  it('reconciles from the store after a timed-out write: aggregates agree, the round completes exactly, a restart continues it', async () => {
    const prefix = testPrefix();
    prefixes.push(prefix);
    const redis = new URL(REDIS_URL);
    const proxy = await startDelayProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
    const settings = testSettings({ PETFL_PET_UPDATE_COUNT_MIN: '4', PETFL_PET_UPDATE_COUNT_MAX: '4' });
    const clock = new ManualClock();
    try {
      const store = await RedisCoordinatorStore.connect({
        url: `redis://127.0.0.1:${proxy.port}`,
        keyPrefix: prefix,
        commandTimeoutMs: 1000,
      });
      const h = await startHarness(settings, { store, clock });
      harnesses.push(h);
      const pool = identities(h.crypto, 80, 41);
      const params = await fetchParams(h.fetch);
      const { sum, update } = pickTasks(h.crypto, params, pool, { sum: 3, update: 4 });
      for (const p of sum) expect(await post(h.fetch, sumMessage(h.crypto, params, p))).toEqual({ status: 202 });
      const sumDict = (await fetchSumDict(h.fetch)) ?? new Map();
      const models = update.map((_, i) => randomModel(1000, 400 + i));
      const scalars = [1, 2, 3, 4];
      const messages = update.map((p, i) =>
        updateMessage(h.crypto, params, p, sumDict, models[i] as Float32Array, scalars[i] as number),
      );
      const send = (i: number) => post(h.fetch, (messages[i] as Uint8Array[])[0] as Uint8Array);

      expect(await send(0)).toEqual({ status: 202 });
      // Redis applies update 1, but its reply comes after the client gave up.
      proxy.hold();
      expect(await send(1)).toEqual({ status: 503, code: 'unavailable' });
      proxy.release();
      // Redis ran the script before the reply was held: the update is there, logged under this
      // instance with its masked model.
      await expect.poll(async () => (await store.counts(params.roundId)).update).toBe(2);
      const { instance } = h.coordinator.status();
      const record = await store.loadRound();
      if (record === undefined) throw new Error('no round in progress');
      /** The store's partials: their instances and the number of masked models they sum. */
      const logged = async () => {
        const partials = await store.partials(params.roundId, params.maskConfig, params.modelLength);
        return { instances: partials.map((p) => p.instance), models: combinePartials(record, partials).modelCount };
      };
      expect(await logged()).toEqual({ instances: [instance], models: 2 });
      expect(h.coordinator.status().counts.update).toBe(1); // the mirror lags the store…

      // …until the next message: the coordinator reloads the round first.
      expect(await send(2)).toEqual({ status: 202 });
      expect(h.coordinator.status().counts.update).toBe(3);
      expect(await send(1)).toEqual({ status: 409, code: 'duplicate-message' }); // the resend: it is in
      // Every update exactly once: 3 participants, 3 masked models, no more.
      expect(await store.counts(params.roundId)).toEqual({ sum: 3, update: 3, sum2: 0 });
      expect(await logged()).toEqual({ instances: [instance], models: 3 });
      expect([...(await store.updateParticipants(params.roundId))].sort()).toEqual(
        update
          .slice(0, 3)
          .map((p) => toBase64Url(p.keys.publicKey))
          .sort(),
      );

      // A restart on the same store continues the round with the same 3 updates.
      await h.close();
      harnesses = [];
      const again = await startHarness(settings, {
        store: await RedisCoordinatorStore.connect({ url: REDIS_URL, keyPrefix: prefix }),
        clock,
      });
      harnesses.push(again);
      expect(again.coordinator.status()).toMatchObject({ roundId: params.roundId, phase: 'update' });
      expect(again.coordinator.status().counts.update).toBe(3);
      expect(await post(again.fetch, (messages[3] as Uint8Array[])[0] as Uint8Array)).toEqual({ status: 202 });
      expect(again.coordinator.status().phase).toBe('sum2');
      for (const p of sum) {
        const seeds = await fetchSeeds(again.fetch, p, params.coordinatorPk);
        expect(seeds?.size).toBe(4);
        expect(await post(again.fetch, sum2Message(again.crypto, params, p, seeds ?? new Map()))).toEqual({
          status: 202,
        });
      }
      const res = await again.fetch('/model');
      expect(res.status).toBe(200);
      const global = decodeGlobalModel(new Uint8Array(await res.arrayBuffer()));
      expect(global.roundId).toBe(params.roundId);
      expectAverage(settings, global.model, models, scalars, (r) => Math.abs(r) * 2 ** -23);
    } finally {
      await proxy.close();
    }
  });
});
