/**
 * The round in progress, as the coordinator holds it in memory: the persisted
 * `RoundRecord` plus mirrors of the store's per-round collections (sum
 * dictionary, update participants, seed dictionary, mask counts), the running
 * aggregate, and the chunk assembler for multipart messages. The store is the
 * durable copy; this mirror answers reads without a round trip.
 *
 * `openRound` starts a round (the idle phase of protocol.md §1.1);
 * `restoreRound` rebuilds the mirror from the store after a restart.
 */

import {
  Aggregation,
  ChunkAssembler,
  type EncryptKeyPair,
  encodeRoundParameters,
  encodeSumDict,
  encodeUpdateSeedDict,
  type PetCrypto,
  type RoundParameters,
  type RoundParametersJson,
  SEED_BYTES,
} from '@petfl/core';
import type { Settings } from '../settings.ts';
import type { CoordinatorStore, LivePhase, RoundPetSettings, RoundRecord } from '../store/coordinator-store.ts';

export interface LiveRound {
  record: RoundRecord;
  // SECURITY: the round key pair; its secret opens this round's messages. Wiped by `closeRound`.
  readonly keyPair: EncryptKeyPair;
  readonly params: RoundParameters;
  readonly paramsJson: RoundParametersJson;
  /** Sum participant → ephemeral pk (protocol.md §3.8). */
  readonly sumDict: Map<string, Uint8Array>;
  /** The encoded sum dictionary, fixed once the sum phase has ended. */
  sumDictBytes: Uint8Array | undefined;
  readonly updates: Set<string>;
  /** Sum participant → update participant → encrypted mask seed. */
  readonly seedDict: Map<string, Map<string, Uint8Array>>;
  /** Encoded update seed dictionaries, cached once the update phase has ended. */
  readonly seedDictBytes: Map<string, Uint8Array>;
  aggregation: Aggregation;
  /** Sum participants whose Sum2 was accepted (after a restart, the store still catches duplicates). */
  readonly sum2Senders: Set<string>;
  /** Mask hash → count. */
  readonly maskCounts: Map<string, number>;
  readonly assembler: ChunkAssembler;
  /** Accepted messages per phase (for the summary and status). */
  readonly accepted: Record<LivePhase, number>;
}

export interface ChunkBudget {
  readonly maxBytesPerParticipant: number;
  readonly maxTotalBytes: number;
}

/** How much incomplete multipart data the coordinator holds: per participant and in total. */
export function chunkBudget(settings: Settings): ChunkBudget {
  // A participant may hold one message's worth of chunks (a masked model plus its seeds);
  // all participants together at most 16 of those, and never less than 64 MiB.
  const perParticipant = Math.max(settings.api.maxBodyBytes, 2 * 1024 * 1024);
  return { maxBytesPerParticipant: perParticipant, maxTotalBytes: Math.max(16 * perParticipant, 64 * 1024 * 1024) };
}

function paramsOf(record: RoundRecord): RoundParameters {
  return {
    roundId: record.roundId,
    coordinatorPk: record.roundPublicKey,
    sumProbability: record.pet.sum.probability,
    updateProbability: record.pet.update.probability,
    seed: record.seed,
    maskConfig: record.maskConfig,
    modelLength: record.modelLength,
  };
}

function mirror(record: RoundRecord, budget: ChunkBudget): LiveRound {
  const params = paramsOf(record);
  return {
    record,
    keyPair: { publicKey: record.roundPublicKey, secretKey: record.roundSecretKey },
    params,
    // Validates the parameters the same way participants will (protocol.md §3.9).
    paramsJson: encodeRoundParameters(params),
    sumDict: new Map(),
    sumDictBytes: undefined,
    updates: new Set(),
    seedDict: new Map(),
    seedDictBytes: new Map(),
    aggregation: new Aggregation(record.maskConfig, record.modelLength),
    sum2Senders: new Set(),
    maskCounts: new Map(),
    assembler: new ChunkAssembler(budget),
    accepted: { sum: 0, update: 0, sum2: 0 },
  };
}

/** The idle phase: a fresh round key pair and round seed under this round's settings. */
export function openRound(
  crypto: PetCrypto,
  roundId: number,
  pet: RoundPetSettings,
  settings: Settings,
  now: number,
): LiveRound {
  // SECURITY: a fresh round key pair per round; the secret lives in the round record until endRound.
  const keyPair = crypto.encryptKeyPair();
  const record: RoundRecord = {
    v: 1,
    roundId,
    phase: 'sum',
    startedAt: now,
    phaseStartedAt: now,
    phaseDurationsMs: {},
    roundPublicKey: keyPair.publicKey,
    roundSecretKey: keyPair.secretKey,
    seed: crypto.randomBytes(SEED_BYTES),
    pet,
    maskConfig: settings.mask,
    modelLength: settings.model.length,
  };
  return mirror(record, chunkBudget(settings));
}

/** Rebuilds the mirror of a persisted round from the store (restart). */
export async function restoreRound(
  store: CoordinatorStore,
  record: RoundRecord,
  settings: Settings,
): Promise<LiveRound> {
  const round = mirror(record, chunkBudget(settings));
  const id = record.roundId;
  for (const [pk, ephemeralPk] of await store.sumDict(id)) round.sumDict.set(pk, ephemeralPk);
  round.accepted.sum = round.sumDict.size;
  if (record.phase !== 'sum') round.sumDictBytes = encodeSumDict(round.sumDict);

  for (const pk of await store.updateParticipants(id)) round.updates.add(pk);
  round.accepted.update = round.updates.size;
  for (const sumPk of round.sumDict.keys()) {
    round.seedDict.set(sumPk, new Map(await store.updateSeedDict(id, sumPk)));
  }
  const aggregate = await store.loadAggregate(id, record.maskConfig, record.modelLength);
  if (aggregate !== undefined) round.aggregation = Aggregation.restore(aggregate.object, aggregate.modelCount);
  if (round.aggregation.modelCount !== round.updates.size) {
    throw new Error(
      `round ${id}: the stored aggregate holds ${round.aggregation.modelCount} models but ${round.updates.size} updates were accepted`,
    );
  }
  for (const [hash, count] of await store.maskCounts(id)) {
    round.maskCounts.set(hash, count);
    round.accepted.sum2 += count;
  }
  return round;
}

/** The update seed dictionary one sum participant fetches, encoded once per round. */
export function updateSeedDictBytes(round: LiveRound, sumPk: string): Uint8Array {
  let bytes = round.seedDictBytes.get(sumPk);
  if (bytes === undefined) {
    bytes = encodeUpdateSeedDict(round.seedDict.get(sumPk) ?? new Map());
    round.seedDictBytes.set(sumPk, bytes);
  }
  return bytes;
}

/** Forgets the round's secrets: the round key and held chunks. */
export function closeRound(crypto: PetCrypto, round: LiveRound): void {
  round.assembler.dropIncomplete();
  // SECURITY: the round secret key is no longer needed once the round has ended.
  crypto.wipe(round.keyPair.secretKey);
}
