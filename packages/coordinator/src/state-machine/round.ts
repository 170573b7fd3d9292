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
  /**
   * Token admission (docs/security.md §2): participant key → the subject it was admitted under this
   * round, and subject → its participant keys (at most `maxIdentitiesPerSubject`). In memory only:
   * a restart forgets them for the round in progress.
   */
  readonly subjectOf: Map<string, string>;
  readonly identities: Map<string, Set<string>>;
}

export interface ChunkBudget {
  readonly maxBytesPerParticipant: number;
  readonly maxTotalBytes: number;
}

/** How much incomplete multipart data the coordinator holds: per participant and in total (settings.limits). */
export function chunkBudget(settings: Settings): ChunkBudget {
  return {
    maxBytesPerParticipant: settings.limits.chunkBytesPerParticipant,
    maxTotalBytes: settings.limits.chunkBytesTotal,
  };
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
    subjectOf: new Map(),
    identities: new Map(),
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
  await reloadRound(store, round);
  return round;
}

/**
 * Replaces the mirror's collections (sum dictionary, updates, seed dictionary, aggregate, mask
 * counts) with the store's, in place. After a store error the write may or may not have been
 * applied (a timeout can land late): the store is the truth, so the coordinator reloads from it
 * before it answers another message (docs/security.md §5). Nothing changes if a read fails.
 */
export async function reloadRound(store: CoordinatorStore, round: LiveRound): Promise<void> {
  const { record } = round;
  const id = record.roundId;
  const sumDict = await store.sumDict(id);
  const updates = await store.updateParticipants(id);
  const seedDict = new Map<string, Map<string, Uint8Array>>();
  for (const sumPk of sumDict.keys()) seedDict.set(sumPk, new Map(await store.updateSeedDict(id, sumPk)));
  const aggregate = await store.loadAggregate(id, record.maskConfig, record.modelLength);
  const aggregation =
    aggregate === undefined
      ? new Aggregation(record.maskConfig, record.modelLength)
      : Aggregation.restore(aggregate.object, aggregate.modelCount);
  if (aggregation.modelCount !== updates.size) {
    throw new Error(
      `round ${id}: the stored aggregate holds ${aggregation.modelCount} models but ${updates.size} updates were accepted`,
    );
  }
  const maskCounts = await store.maskCounts(id);
  const sum2Senders = await store.sum2Senders(id);

  // Every read succeeded: replace the mirror.
  round.sumDict.clear();
  for (const [pk, ephemeralPk] of sumDict) round.sumDict.set(pk, ephemeralPk);
  round.accepted.sum = round.sumDict.size;
  if (record.phase !== 'sum') round.sumDictBytes = encodeSumDict(round.sumDict);
  round.updates.clear();
  for (const pk of updates) round.updates.add(pk);
  round.accepted.update = round.updates.size;
  round.seedDict.clear();
  for (const [sumPk, column] of seedDict) round.seedDict.set(sumPk, column);
  round.seedDictBytes.clear();
  round.aggregation = aggregation;
  round.maskCounts.clear();
  round.accepted.sum2 = 0;
  for (const [hash, count] of maskCounts) {
    round.maskCounts.set(hash, count);
    round.accepted.sum2 += count;
  }
  round.sum2Senders.clear();
  for (const pk of sum2Senders) round.sum2Senders.add(pk);
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
