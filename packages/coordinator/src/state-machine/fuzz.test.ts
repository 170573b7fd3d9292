/**
 * Bad input while an honest round runs (issue: ≥ 10,000 malformed, truncated,
 * bit-flipped, replayed, wrong-round and oversized messages): every one gets
 * a 4xx with a known code, the coordinator keeps going, and the honest round
 * still produces the exact weighted average.
 */

import {
  decodeGlobalModel,
  encodeMessage,
  HEADER_BYTES,
  PET_ERROR_CODES,
  type PetCrypto,
  type RoundParameters,
  signMessage,
} from '@petfl/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  expectAverage,
  type Harness,
  identities,
  runRound,
  startHarness,
  testSettings,
} from '../test-support/harness.ts';
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
} from '../test-support/sim.ts';

/** A small deterministic PRNG, so a failure reproduces. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

type Mutator = (rand: () => number) => Uint8Array;

function mutators(
  crypto: PetCrypto,
  params: RoundParameters,
  stranger: SimParticipant,
  oldParams: RoundParameters,
  seen: Uint8Array[],
  maxBody: number,
): Mutator[] {
  const int = (rand: () => number, n: number) => Math.floor(rand() * n);
  const pick = (rand: () => number) => seen[int(rand, seen.length)] as Uint8Array;
  /** A well-signed frame with the given tag and payload, sealed to `pk`. */
  const frame = (tag: 'sum' | 'update' | 'sum2', payload: Uint8Array, pk = params.coordinatorPk) => {
    const header = encodeMessage({
      participantPk: stranger.keys.publicKey,
      coordinatorPk: pk,
      payload: { kind: 'sum', sum: { sumSignature: new Uint8Array(64), ephemeralPk: new Uint8Array(32) } },
    }).subarray(0, HEADER_BYTES);
    const bytes = new Uint8Array(HEADER_BYTES + payload.length);
    bytes.set(header);
    bytes.set(payload, HEADER_BYTES);
    new DataView(bytes.buffer).setUint32(128, bytes.length);
    bytes[132] = { sum: 1, update: 2, sum2: 3 }[tag];
    return crypto.seal(signMessage(crypto, bytes, stranger.keys.secretKey), pk);
  };
  return [
    // random bytes
    (rand) => crypto.randomBytes(int(rand, 600)),
    // a seen (honest) sealed message, truncated
    (rand) => {
      const m = pick(rand);
      return m.slice(0, int(rand, m.length));
    },
    // a seen sealed message with one bit flipped
    (rand) => {
      const m = pick(rand).slice();
      const i = int(rand, m.length);
      m[i] = (m[i] as number) ^ (1 << int(rand, 8));
      return m;
    },
    // a replay of a seen message
    (rand) => pick(rand),
    // sealed to the previous round's key
    () =>
      sumMessage(crypto, oldParams, {
        ...stranger,
        selection: { task: 'sum', sumSignature: new Uint8Array(64) },
        ephemeral: crypto.encryptKeyPair(),
      }),
    // a signed frame whose payload is garbage of a random tag
    (rand) => frame((['sum', 'update', 'sum2'] as const)[int(rand, 3)] ?? 'sum', crypto.randomBytes(int(rand, 300))),
    // a signed frame with a corrupted header field, then re-signed
    (rand) => {
      const bytes = encodeMessage({
        participantPk: stranger.keys.publicKey,
        coordinatorPk: params.coordinatorPk,
        payload: { kind: 'sum', sum: { sumSignature: crypto.randomBytes(64), ephemeralPk: crypto.randomBytes(32) } },
      });
      const field = int(rand, 4);
      if (field === 0) bytes[132] = 4 + int(rand, 250); // unknown tag
      if (field === 1) bytes[133] = 2 << int(rand, 6); // unknown flag
      if (field === 2) bytes[134 + int(rand, 2)] = 1 + int(rand, 255); // reserved
      if (field === 3) new DataView(bytes.buffer).setUint32(128, bytes.length + 1 + int(rand, 9)); // length
      return crypto.seal(signMessage(crypto, bytes, stranger.keys.secretKey), params.coordinatorPk);
    },
    // a validly signed message from a participant that is not eligible (random signatures)
    () =>
      crypto.seal(
        signMessage(
          crypto,
          encodeMessage({
            participantPk: stranger.keys.publicKey,
            coordinatorPk: params.coordinatorPk,
            payload: {
              kind: 'sum',
              sum: { sumSignature: crypto.randomBytes(64), ephemeralPk: crypto.randomBytes(32) },
            },
          }),
          stranger.keys.secretKey,
        ),
        params.coordinatorPk,
      ),
    // a multipart frame with a garbage chunk header
    (rand) => {
      const sealedFrame = encodeMessage({
        participantPk: stranger.keys.publicKey,
        coordinatorPk: params.coordinatorPk,
        payload: { kind: 'sum', sum: { sumSignature: new Uint8Array(64), ephemeralPk: new Uint8Array(32) } },
      });
      sealedFrame[133] = 1; // multipart
      sealedFrame.set(crypto.randomBytes(8), HEADER_BYTES);
      sealedFrame[HEADER_BYTES + 4] = 0x80 | int(rand, 0x7f); // unknown chunk flag bits
      return crypto.seal(signMessage(crypto, sealedFrame, stranger.keys.secretKey), params.coordinatorPk);
    },
    // oversized
    (rand) => new Uint8Array(maxBody + 1 + int(rand, 100)),
  ];
}

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('fuzz: malformed input while an honest round runs', () => {
  it('answers 10,000+ bad messages with 4xx codes and the honest round still averages exactly', async () => {
    h = await startHarness(testSettings({ PETFL_API_MAX_BODY_BYTES: '65536' }));
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
    ]) {
      expect(codes.get(code), code).toBeGreaterThan(0);
    }
    expect(h.coordinator.status().phase).toBe('sum');
  }, 180_000);
});
