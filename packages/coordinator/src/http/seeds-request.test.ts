/**
 * `GET /seeds?pk=&sig=` (protocol.md §1.2): only the holder of a sum participant's identity key
 * reads its column of the seed dictionary; anyone else learns nothing, not even whether the key is
 * a sum participant.
 */

import {
  decodeUpdateSeedDict,
  type RoundParameters,
  SEEDS_REQUEST_CONTEXT,
  SEEDS_SO_FAR_HEADER,
  seedsRequestMessage,
  signSeedsRequest,
  toBase64Url,
} from '@petfl/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness, testSettings } from '../../test-support/harness.ts';
import { ManualClock } from '../../test-support/manual-clock.ts';
import {
  fetchParams,
  fetchSumDict,
  identities,
  pickTasks,
  post,
  randomModel,
  type SumParticipant,
  sum2Message,
  sumMessage,
  updateMessage,
} from '../../test-support/sim.ts';
import { SEEDS_SO_FAR_FRESH_MS } from '../state-machine/round.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** A round driven into its sum2 phase: 3 sum and 3 update participants accepted. */
async function intoSum2(harness: Harness): Promise<{ params: RoundParameters; sum: SumParticipant[] }> {
  const { crypto, fetch } = harness;
  const params = await fetchParams(fetch);
  const { sum, update } = pickTasks(crypto, params, identities(crypto, 60, 41), { sum: 3, update: 3 });
  for (const p of sum) expect(await post(fetch, sumMessage(crypto, params, p))).toEqual({ status: 202 });
  const sumDict = (await fetchSumDict(fetch)) ?? new Map();
  for (const [i, p] of update.entries()) {
    const [message] = updateMessage(crypto, params, p, sumDict, randomModel(params.modelLength, i), 1);
    expect(await post(fetch, message as Uint8Array)).toEqual({ status: 202 });
  }
  expect(harness.coordinator.status().phase).toBe('sum2');
  return { params, sum };
}

const seeds = (harness: Harness, pk: string, sig?: string) =>
  harness.fetch(`/seeds?pk=${pk}${sig === undefined ? '' : `&sig=${sig}`}`);

describe('GET /seeds (signed)', () => {
  it('signs "petfl/seeds" ‖ round key ‖ pk', () => {
    const message = seedsRequestMessage(new Uint8Array(32).fill(1), new Uint8Array(32).fill(2));
    expect(new TextDecoder().decode(SEEDS_REQUEST_CONTEXT)).toBe('petfl/seeds');
    expect(message.length).toBe(11 + 32 + 32);
    expect(message.subarray(0, 11)).toEqual(SEEDS_REQUEST_CONTEXT);
    expect(message.subarray(11, 43)).toEqual(new Uint8Array(32).fill(1));
    expect(message.subarray(43)).toEqual(new Uint8Array(32).fill(2));
  });

  it('answers the key holder and refuses unsigned, malformed, foreign and replayed signatures', async () => {
    h = await startHarness(testSettings({ PETFL_PET_UPDATE_COUNT_MIN: '3', PETFL_PET_UPDATE_COUNT_MAX: '3' }));
    const { crypto } = h;
    const { params, sum } = await intoSum2(h);
    const [p, other] = sum as [SumParticipant, SumParticipant];
    const sign = (keys: SumParticipant['keys'], roundKey = params.coordinatorPk) =>
      toBase64Url(signSeedsRequest(crypto, roundKey, keys));

    const refused = async (res: Response) => {
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ code: 'bad-signature' });
    };
    await refused(await seeds(h, p.pk));
    await refused(await seeds(h, p.pk, 'not-a-signature'));
    await refused(await seeds(h, p.pk, toBase64Url(new Uint8Array(64))));
    // another sum participant's valid signature over its own request does not open p's column
    await refused(await seeds(h, p.pk, sign(other.keys)));
    // a signature made for another round's key is not one for this round
    await refused(await seeds(h, p.pk, sign(p.keys, new Uint8Array(32).fill(9))));

    const ok = await seeds(h, p.pk, sign(p.keys));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('application/octet-stream');
    expect((await ok.arrayBuffer()).byteLength).toBeGreaterThan(0);
  });

  it('a request signed for the round that has just ended is late (409 wrong-round), not a forgery', async () => {
    h = await startHarness(testSettings({ PETFL_PET_UPDATE_COUNT_MIN: '3', PETFL_PET_UPDATE_COUNT_MAX: '3' }));
    const { crypto, fetch } = h;
    const { params, sum } = await intoSum2(h);
    const signed = new Map(sum.map((p) => [p.pk, toBase64Url(signSeedsRequest(crypto, params.coordinatorPk, p.keys))]));
    for (const p of sum) {
      const seedsOf = await (await seeds(h, p.pk, signed.get(p.pk))).arrayBuffer();
      const dict = decodeUpdateSeedDict(new Uint8Array(seedsOf));
      expect(await post(fetch, sum2Message(crypto, params, p, dict))).toEqual({ status: 202 });
    }
    const next = await fetchParams(fetch);
    expect(next.roundId).toBe(params.roundId + 1);
    const [p] = sum as [SumParticipant];
    const late = await seeds(h, p.pk, signed.get(p.pk));
    expect(late.status).toBe(409);
    expect(await late.json()).toMatchObject({
      code: 'wrong-round',
      message: expect.stringContaining(`round ${params.roundId}`),
    });
    // still a forgery: a signature over a key that is neither round's
    const forged = await seeds(h, p.pk, toBase64Url(signSeedsRequest(crypto, new Uint8Array(32).fill(9), p.keys)));
    expect(forged.status).toBe(401);
  });

  it('tells nothing about the sum dictionary to an unsigned request', async () => {
    h = await startHarness(testSettings({ PETFL_PET_UPDATE_COUNT_MIN: '3', PETFL_PET_UPDATE_COUNT_MAX: '3' }));
    await intoSum2(h);
    const [stranger] = identities(h.crypto, 1, 99) as [{ pk: string; keys: SumParticipant['keys'] }];
    // unsigned: the same 401 whether or not the key is a sum participant
    const res = await seeds(h, stranger.pk);
    expect(res.status).toBe(401);
    // signed by its holder: now it may learn that it is not one
    const params = await fetchParams(h.fetch);
    const signed = await seeds(
      h,
      stranger.pk,
      toBase64Url(signSeedsRequest(h.crypto, params.coordinatorPk, stranger.keys)),
    );
    expect(signed.status).toBe(404);
    expect(await signed.json()).toMatchObject({ code: 'unknown-sum-participant' });
  });

  it('answers 204 to a signed request before the seed dictionary exists', async () => {
    h = await startHarness();
    const params = await fetchParams(h.fetch);
    const [p] = identities(h.crypto, 1, 5) as [{ pk: string; keys: SumParticipant['keys'] }];
    const res = await seeds(h, p.pk, toBase64Url(signSeedsRequest(h.crypto, params.coordinatorPk, p.keys)));
    expect(res.status).toBe(204);
    expect((await seeds(h, p.pk)).status).toBe(401);
  });
});

describe('GET /seeds?so_far=1 (ADR 0017)', () => {
  it('while the update phase runs: the seeds accepted so far, marked so-far; then the final dictionary', async () => {
    const clock = new ManualClock();
    h = await startHarness(
      testSettings({
        PETFL_PET_UPDATE_COUNT_MIN: '3',
        PETFL_PET_UPDATE_COUNT_MAX: '3',
        PETFL_API_CORS_ORIGINS: 'http://app.example',
      }),
      { clock },
    );
    const { crypto, fetch } = h;
    const params = await fetchParams(fetch);
    const { sum, update } = pickTasks(crypto, params, identities(crypto, 60, 41), { sum: 3, update: 3 });
    const [p, other] = sum as [SumParticipant, SumParticipant];
    const sig = toBase64Url(signSeedsRequest(crypto, params.coordinatorPk, p.keys));
    const soFar = async () => {
      const res = await fetch(`/seeds?pk=${p.pk}&sig=${sig}&so_far=1`, { headers: { origin: 'http://app.example' } });
      // a page on another origin may read the header
      if (res.status === 200) expect(res.headers.get('access-control-expose-headers')).toMatch(/petfl-seeds/i);
      const body = res.status === 200 ? decodeUpdateSeedDict(new Uint8Array(await res.arrayBuffer())) : undefined;
      return { status: res.status, header: res.headers.get(SEEDS_SO_FAR_HEADER), body };
    };

    // the sum phase: no dictionary yet
    expect(await soFar()).toEqual({ status: 204, header: null, body: undefined });
    for (const s of sum) expect(await post(fetch, sumMessage(crypto, params, s))).toEqual({ status: 202 });
    const sumDict = (await fetchSumDict(fetch)) ?? new Map();
    expect(h.coordinator.status().phase).toBe('update');
    expect(await soFar()).toEqual({ status: 200, header: 'so-far', body: new Map() });
    // A throwaway identity gains nothing from so_far: unsigned it is refused like any seeds read,
    // and signed by its holder it only learns that it is not a sum participant.
    const [stranger] = identities(crypto, 1, 99) as [{ pk: string; keys: SumParticipant['keys'] }];
    expect((await fetch(`/seeds?pk=${stranger.pk}&so_far=1`)).status).toBe(401);
    const strangerSig = toBase64Url(signSeedsRequest(crypto, params.coordinatorPk, stranger.keys));
    const probed = await fetch(`/seeds?pk=${stranger.pk}&sig=${strangerSig}&so_far=1`);
    expect(probed.status).toBe(404);
    expect(await probed.json()).toMatchObject({ code: 'unknown-sum-participant' });

    const seen: string[] = [];
    for (const [i, u] of update.entries()) {
      // without so_far the update phase is still 204, as for any older participant
      expect((await seeds(h, p.pk, sig)).status).toBe(204);
      const [message] = updateMessage(crypto, params, u, sumDict, randomModel(params.modelLength, i), 1);
      expect(await post(fetch, message as Uint8Array)).toEqual({ status: 202 });
      if (i < update.length - 1) {
        // within SEEDS_SO_FAR_FRESH_MS the dictionary so far is answered from memory, as it was
        expect(new Set(((await soFar()).body ?? new Map()).keys())).toEqual(new Set(seen));
        clock.advance(SEEDS_SO_FAR_FRESH_MS);
      }
      seen.push(u.pk);
      const answer = await soFar();
      expect(answer.status).toBe(200);
      expect([...(answer.body?.keys() ?? [])].sort()).toEqual([...seen].sort());
      if (i < update.length - 1) expect(answer.header).toBe('so-far');
      else {
        // the third update ended the phase: this dictionary is final
        expect(h.coordinator.status().phase).toBe('sum2');
        expect(answer.header).toBe('final');
        const plain = await seeds(h, p.pk, sig);
        expect(plain.headers.get(SEEDS_SO_FAR_HEADER)).toBeNull();
        expect(decodeUpdateSeedDict(new Uint8Array(await plain.arrayBuffer()))).toEqual(answer.body);
      }
    }
    // a seed dictionary so far is still only its holder's
    const foreign = toBase64Url(signSeedsRequest(crypto, params.coordinatorPk, other.keys));
    expect((await fetch(`/seeds?pk=${p.pk}&sig=${foreign}&so_far=1`)).status).toBe(401);
    // and the operator sees the reads: 5 dictionaries so far, 2 final ones (204s and refusals not counted)
    const metrics = await (await fetch('/metrics')).text();
    expect(metrics).toMatch(/petfl_seed_dictionary_reads_total\{dictionary="so-far"\} 5\n/);
    expect(metrics).toMatch(/petfl_seed_dictionary_reads_total\{dictionary="final"\} 2\n/);
  });
});
