/**
 * Test support: participants built directly from @petfl/core, independent of
 * the SDK's engine, so coordinator tests have their own oracle. Each helper
 * builds one real, sealed protocol message; `pickTasks` chooses from a pool
 * of identities the ones this round's seed selects for sum and update, so a
 * test can run exactly k sum and m update participants per round.
 */

import {
  Aggregation,
  compareBytes,
  decodeRoundParameters,
  decodeSumDict,
  decodeUpdateSeedDict,
  type EncryptKeyPair,
  fromBase64Url,
  initCrypto,
  Masker,
  type MaskObject,
  type Message,
  type PetCrypto,
  type RoundParameters,
  type SigningKeyPair,
  sealMessage,
  sealMessageChunks,
  selectTask,
  signSeedsRequest,
  type TaskSelection,
  toBase64Url,
} from '@petfl/core';

/** `app.request` or a real fetch bound to a base URL. */
export type Fetch = (path: string, init?: RequestInit) => Promise<Response>;

export interface SimParticipant {
  readonly keys: SigningKeyPair;
  readonly pk: string;
}

export interface Selected extends SimParticipant {
  readonly selection: TaskSelection;
}

export interface SumParticipant extends Selected {
  readonly ephemeral: EncryptKeyPair;
}

/** Identities made by `identities()`, by pk, so `fetchSeeds(fetch, pk)` can sign its request. */
const identityKeys = new Map<string, SigningKeyPair>();

export function identities(crypto: PetCrypto, count: number, label = 0): SimParticipant[] {
  return Array.from({ length: count }, (_, i) => {
    const seed = new Uint8Array(32);
    new DataView(seed.buffer).setUint32(0, label);
    new DataView(seed.buffer).setUint32(4, i);
    const keys = crypto.signingKeyPair(seed);
    const pk = toBase64Url(keys.publicKey);
    identityKeys.set(pk, keys);
    return { keys, pk };
  });
}

export async function fetchParams(fetch: Fetch): Promise<RoundParameters> {
  const res = await fetch('/params');
  if (res.status !== 200) throw new Error(`GET /params: ${res.status}`);
  return decodeRoundParameters(await res.json());
}

/** Splits the pool by this round's task; throws if fewer than asked are selected. */
export function pickTasks(
  crypto: PetCrypto,
  params: RoundParameters,
  pool: readonly SimParticipant[],
  want: { readonly sum: number; readonly update: number },
): { sum: SumParticipant[]; update: Selected[] } {
  const sum: SumParticipant[] = [];
  const update: Selected[] = [];
  for (const p of pool) {
    const selection = selectTask(crypto, params.seed, p.keys.secretKey, {
      sum: params.sumProbability,
      update: params.updateProbability,
    });
    if (selection.task === 'sum' && sum.length < want.sum)
      sum.push({ ...p, selection, ephemeral: crypto.encryptKeyPair() });
    if (selection.task === 'update' && update.length < want.update) update.push({ ...p, selection });
  }
  if (sum.length < want.sum || update.length < want.update) {
    throw new Error(`pool too small: ${sum.length} sum and ${update.length} update participants selected`);
  }
  return { sum, update };
}

export function sumMessage(crypto: PetCrypto, params: RoundParameters, p: SumParticipant): Uint8Array {
  return sealMessage(
    crypto,
    {
      participantPk: p.keys.publicKey,
      coordinatorPk: params.coordinatorPk,
      payload: { kind: 'sum', sum: { sumSignature: p.selection.sumSignature, ephemeralPk: p.ephemeral.publicKey } },
    },
    p.keys.secretKey,
  );
}

/** An Update message (or its chunks, when `maxChunkData` is given). */
export function updateMessage(
  crypto: PetCrypto,
  params: RoundParameters,
  p: Selected,
  sumDict: ReadonlyMap<string, Uint8Array>,
  model: ArrayLike<number>,
  scalar: number,
  maxChunkData?: number,
): Uint8Array[] {
  const { seed, masked } = new Masker(crypto, params.maskConfig).mask(model, scalar);
  const messages = updateMessageFrom(crypto, params, p, sumDict, masked, seed, maxChunkData);
  crypto.wipe(seed);
  return messages;
}

/**
 * An Update message from a masked model already made (an attacker's, say) and its mask seed;
 * `sealSeed` seals the seed for one sum participant (default: a sealed box to its ephemeral key).
 */
export function updateMessageFrom(
  crypto: PetCrypto,
  params: RoundParameters,
  p: Selected,
  sumDict: ReadonlyMap<string, Uint8Array>,
  masked: MaskObject,
  seed: Uint8Array,
  maxChunkData?: number,
  sealSeed: (seed: Uint8Array, ephemeralPk: Uint8Array, sumPk: string) => Uint8Array = (s, ephemeralPk) =>
    crypto.seal(s, ephemeralPk),
): Uint8Array[] {
  const localSeedDict = new Map<string, Uint8Array>();
  for (const [sumPk, ephemeralPk] of sumDict) localSeedDict.set(sumPk, sealSeed(seed, ephemeralPk, sumPk));
  const updateSignature = p.selection.updateSignature;
  if (updateSignature === undefined) throw new Error('not an update participant');
  const message = {
    participantPk: p.keys.publicKey,
    coordinatorPk: params.coordinatorPk,
    payload: {
      kind: 'update' as const,
      update: { sumSignature: p.selection.sumSignature, updateSignature, maskedModel: masked, localSeedDict },
    },
  };
  return maxChunkData === undefined
    ? [sealMessage(crypto, message, p.keys.secretKey)]
    : sealMessageChunks(crypto, message, p.keys.secretKey, { maxChunkData, messageId: 7 });
}

/** The Sum2 message of a sum participant from its update seed dictionary. */
export function sum2Message(
  crypto: PetCrypto,
  params: RoundParameters,
  p: SumParticipant,
  updateSeedDict: ReadonlyMap<string, Uint8Array>,
): Uint8Array {
  return sealMessage(crypto, sum2Of(crypto, params, p, updateSeedDict), p.keys.secretKey);
}

/** The chunks of a sum participant's Sum2 message (protocol.md §3.7), in order. */
export function sum2Chunks(
  crypto: PetCrypto,
  params: RoundParameters,
  p: SumParticipant,
  updateSeedDict: ReadonlyMap<string, Uint8Array>,
  maxChunkData: number,
): Uint8Array[] {
  const message = sum2Of(crypto, params, p, updateSeedDict);
  return sealMessageChunks(crypto, message, p.keys.secretKey, { maxChunkData, messageId: 9 });
}

/** The unsealed Sum2 message: the masks of the seeds that open, aggregated, and the rejected seeds. */
function sum2Of(
  crypto: PetCrypto,
  params: RoundParameters,
  p: SumParticipant,
  updateSeedDict: ReadonlyMap<string, Uint8Array>,
): Message {
  const aggregation = new Aggregation(params.maskConfig, params.modelLength);
  const rejected: Uint8Array[] = [];
  for (const [updatePk, encrypted] of updateSeedDict) {
    let seed: Uint8Array;
    try {
      seed = crypto.openSealed(encrypted, p.ephemeral, 'encrypted mask seed');
    } catch {
      rejected.push(fromBase64Url(updatePk, 'update participant'));
      continue; // protocol.md §3.5: skipped and reported
    }
    aggregation.aggregateDerived(crypto, seed);
    crypto.wipe(seed);
  }
  return {
    participantPk: p.keys.publicKey,
    coordinatorPk: params.coordinatorPk,
    payload: {
      kind: 'sum2',
      sum2: {
        sumSignature: p.selection.sumSignature,
        aggregatedMask: aggregation.toMaskObject(),
        rejectedSeeds: rejected.sort(compareBytes),
      },
    },
  };
}

export async function post(fetch: Fetch, body: Uint8Array): Promise<{ status: number; code?: string }> {
  const res = await fetch('/message', {
    method: 'POST',
    body: body as Uint8Array<ArrayBuffer>,
    headers: { 'content-type': 'application/octet-stream' },
  });
  const json = (await res.json().catch(() => ({}))) as { code?: string };
  return json.code === undefined ? { status: res.status } : { status: res.status, code: json.code };
}

export async function fetchSumDict(fetch: Fetch): Promise<ReadonlyMap<string, Uint8Array> | undefined> {
  const res = await fetch('/sums');
  if (res.status === 204) return undefined;
  return decodeSumDict(new Uint8Array(await res.arrayBuffer()));
}

/**
 * GET /seeds, signed by the sum participant (protocol.md §1.2); `who` is the participant, or its
 * pk when it came from `identities()`. The round key is read from /params unless given.
 */
export async function fetchSeeds(
  fetch: Fetch,
  who: SimParticipant | string,
  coordinatorPk?: Uint8Array,
): Promise<ReadonlyMap<string, Uint8Array> | undefined> {
  const keys = typeof who === 'string' ? identityKeys.get(who) : who.keys;
  if (keys === undefined) throw new Error(`fetchSeeds: no identity key for ${String(who)}`);
  const roundKey = coordinatorPk ?? (await fetchParams(fetch)).coordinatorPk;
  const sig = toBase64Url(signSeedsRequest(await initCrypto(), roundKey, keys));
  const res = await fetch(`/seeds?pk=${toBase64Url(keys.publicKey)}&sig=${sig}`);
  if (res.status === 204) return undefined;
  if (res.status !== 200) throw new Error(`GET /seeds: ${res.status}`);
  return decodeUpdateSeedDict(new Uint8Array(await res.arrayBuffer()));
}

/** A random model of `length` weights in (−1, 1) from a seeded xorshift (reproducible). */
export function randomModel(length: number, seed: number): Float32Array {
  const out = new Float32Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = (x / 2 ** 32) * 2 - 1;
  }
  return out;
}

/** Σ sᵢwᵢ / Σ sᵢ in float64: the test's own reference. */
export function exactAverage(models: readonly ArrayLike<number>[], scalars: readonly number[]): Float64Array {
  const out = new Float64Array(models[0]?.length ?? 0);
  let total = 0;
  models.forEach((m, j) => {
    const s = scalars[j] as number;
    total += s;
    for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) + s * (m[i] as number);
  });
  return out.map((v) => v / total);
}
