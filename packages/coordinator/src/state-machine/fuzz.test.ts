/**
 * Bad input while an honest round runs (issue: ≥ 10,000 malformed, truncated,
 * bit-flipped, replayed, wrong-round and oversized messages): every one gets
 * a 4xx with a known code, the coordinator keeps going, and the honest round
 * still produces the exact weighted average.
 */

import { decodeGlobalModel, PET_ERROR_CODES } from '@petfl/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type Mutator, mutators, prng } from '../../test-support/fuzz.ts';
import {
  expectAverage,
  type Harness,
  identities,
  runRound,
  startHarness,
  testSettings,
} from '../../test-support/harness.ts';
import {
  fetchParams,
  fetchSeeds,
  fetchSumDict,
  pickTasks,
  post,
  randomModel,
  type SimParticipant,
  sum2Message,
  sumMessage,
  updateMessage,
} from '../../test-support/sim.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('fuzz: malformed input while an honest round runs', () => {
  it('answers 10,000+ bad messages with 4xx codes and the honest round still averages exactly', async () => {
    h = await startHarness(
      testSettings({ PETFL_API_MAX_BODY_BYTES: '65536', PETFL_LIMITS_MESSAGES_PER_MINUTE_PER_IP: '0' }),
    );
    const { crypto, fetch } = h;
    const pool = identities(crypto, 80, 11);
    const strangers = identities(crypto, 5, 12);
    // one completed round first, so there is a previous round key for wrong-round messages
    const oldParams = await fetchParams(fetch);
    await runRound(h, pool, { sum: 3, update: 10 }, 1);

    const params = await fetchParams(fetch);
    const { sum, update } = pickTasks(crypto, params, pool, { sum: 3, update: 10 });
    // replays and mutations start from a real sealed message; accepted honest ones join as the round goes
    const early = update[0];
    if (early === undefined) throw new Error('no update participant');
    const seen = updateMessage(crypto, params, early, new Map(), randomModel(params.modelLength, 1), 1);
    const rand = prng(0x5eed);
    const codes = new Map<string, number>();
    let sent = 0;
    const known = new Set<string>(PET_ERROR_CODES);
    const barrage = async (count: number) => {
      const muts = mutators(crypto, params, strangers[sent % 5] as SimParticipant, oldParams, seen, 65536);
      for (let i = 0; i < count; i++) {
        const body = (muts[Math.floor(rand() * muts.length)] as Mutator)(rand);
        const res = await post(fetch, body);
        sent += 1;
        if (res.status < 400 || res.status > 499 || res.code === undefined || !known.has(res.code)) {
          throw new Error(`bad message ${sent} answered ${JSON.stringify(res)}`);
        }
        codes.set(res.code, (codes.get(res.code) ?? 0) + 1);
      }
    };
    const honest = async (body: Uint8Array) => {
      await barrage(650);
      expect(await post(fetch, body)).toEqual({ status: 202 });
      seen.push(body);
    };

    for (const p of sum) await honest(sumMessage(crypto, params, p));
    const sumDict = (await fetchSumDict(fetch)) ?? new Map();
    const models = update.map((_, i) => randomModel(params.modelLength, 900 + i));
    const scalars = update.map((_, i) => 1 + (i % 4));
    for (const [i, p] of update.entries()) {
      await honest(
        updateMessage(crypto, params, p, sumDict, models[i] as Float32Array, scalars[i] as number)[0] as Uint8Array,
      );
    }
    for (const p of sum) await honest(sum2Message(crypto, params, p, (await fetchSeeds(fetch, p.pk)) ?? new Map()));

    expect(sent).toBeGreaterThanOrEqual(10_000);
    const global = decodeGlobalModel(new Uint8Array(await (await fetch('/model')).arrayBuffer()));
    expect(global.roundId).toBe(params.roundId);
    expectAverage(h.settings, global.model, models, scalars, (r) => Math.abs(r) * 2 ** -24);
    // the barrage exercised the whole pipeline, not just decryption
    for (const code of [
      'decrypt-failed',
      'wrong-round',
      'duplicate-message',
      'not-eligible',
      'body-too-large',
      'unknown-tag',
      'length-mismatch',
      'reserved-nonzero',
      'invalid-field',
      'truncated',
      'chunk-mismatch',
    ]) {
      expect(codes.get(code), code).toBeGreaterThan(0);
    }
    expect(h.coordinator.status().phase).toBe('sum');
  }, 180_000);
});
