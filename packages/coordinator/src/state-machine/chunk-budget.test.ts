/**
 * Chunk budgets against keys that are never eligible (docs/security.md §4): a multipart message
 * starts with its chunk 0, whose signatures and task eligibility are checked before anything is
 * held, so chunks from keys that may not send an update this round cost no memory, and an honest
 * multipart update still fits.
 */

import { encodeFrame, selectTask, signMessage, splitPayload } from '@petfl/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness, testSettings } from '../../test-support/harness.ts';
import {
  fetchParams,
  fetchSumDict,
  identities,
  pickTasks,
  post,
  randomModel,
  sumMessage,
  updateMessage,
} from '../../test-support/sim.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('chunk budget', () => {
  it('holds nothing for 1,000+ chunks from never-eligible keys; an honest 40-chunk update gets 202 on every chunk', async () => {
    // A total budget of 1 MiB: the attackers' 16 KiB chunks would fill it 30 times over.
    h = await startHarness(
      testSettings({
        PETFL_LIMITS_CHUNK_BYTES_PER_PARTICIPANT: String(256 * 1024),
        PETFL_LIMITS_CHUNK_BYTES_TOTAL: String(1024 * 1024),
      }),
    );
    const harness = h;
    const pool = identities(harness.crypto, 120, 31);
    const params = await fetchParams(harness.fetch);
    const { sum, update } = pickTasks(harness.crypto, params, pool, { sum: 3, update: 10 });
    for (const p of sum)
      expect(await post(harness.fetch, sumMessage(harness.crypto, params, p))).toEqual({ status: 202 });
    expect(harness.coordinator.status().phase).toBe('update');
    const sumDict = (await fetchSumDict(harness.fetch)) ?? new Map();

    // Keys this round does not select for update (sum-eligible, or not update-eligible).
    const never = identities(harness.crypto, 1400, 32).filter(
      (p) =>
        selectTask(harness.crypto, params.seed, p.keys.secretKey, {
          sum: params.sumProbability,
          update: params.updateProbability,
        }).task !== 'update',
    );
    expect(never.length).toBeGreaterThan(500);
    const refusals = new Map<string, number>();
    let chunks = 0;
    const data = new Uint8Array(16 * 1024);
    for (const p of never) {
      const selection = selectTask(harness.crypto, params.seed, p.keys.secretKey, {
        sum: params.sumProbability,
        update: 1, // an update signature regardless of eligibility
      });
      // Chunk 0 carries the (ineligible) signatures, then 16 KiB; chunk 1 follows.
      const payload = new Uint8Array(128 + 2 * data.length);
      payload.set(selection.sumSignature, 0);
      payload.set(selection.updateSignature ?? new Uint8Array(64), 64);
      const fields = {
        participantPk: p.keys.publicKey,
        coordinatorPk: params.coordinatorPk,
        tag: 'update' as const,
        multipart: true,
      };
      const parts = splitPayload(payload, 128 + data.length, 1).map((chunk) =>
        harness.crypto.sealEnvelope(
          signMessage(harness.crypto, encodeFrame(fields, chunk), p.keys.secretKey),
          params.coordinatorPk,
        ),
      );
      for (const part of parts.slice(0, 2)) {
        const res = await post(harness.fetch, part);
        refusals.set(`${res.status} ${res.code}`, (refusals.get(`${res.status} ${res.code}`) ?? 0) + 1);
        chunks += 1;
      }
    }
    expect(chunks).toBeGreaterThanOrEqual(1000);
    // Chunk 0 fails eligibility; a later chunk of a message that never started is refused.
    expect([...refusals.keys()].sort()).toEqual(['400 chunk-mismatch', '401 not-eligible']);
    expect(harness.coordinator.status().chunks).toEqual({ pendingMessages: 0, bytesHeld: 0 });

    const honest = update[0];
    if (honest === undefined) throw new Error('no update participant');
    const parts = updateMessage(harness.crypto, params, honest, sumDict, randomModel(1000, 1), 1, 160);
    expect(parts.length).toBeGreaterThanOrEqual(40);
    for (const [i, part] of parts.entries()) {
      expect(await post(harness.fetch, part), `chunk ${i}`).toEqual({ status: 202 });
    }
    expect(harness.coordinator.status().counts.update).toBe(1);
    expect(harness.coordinator.status().chunks).toEqual({ pendingMessages: 0, bytesHeld: 0 });
  });
});
