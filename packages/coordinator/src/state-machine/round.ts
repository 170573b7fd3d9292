/**
 * The round in progress, as the coordinator holds it in memory: the persisted
 * `RoundRecord` plus mirrors of the store's per-round collections (sum
 * dictionary, update participants, Sum2 senders; the seed dictionary and the
 * mask votes are read from the store when needed), this
 * instance's partial aggregate (ADR 0008: the updates it accepted), and the
 * chunk assembler for multipart messages. The store is the durable copy; this
 * mirror answers reads without a round trip.
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
  privacyRoundSeed,
  type RoundParameters,
  type RoundParametersJson,
  type RoundPrivacy,
  SEED_BYTES,
} from '@petfl/core';
import type { Settings } from '../settings.ts';
import type {
  CoordinatorStore,
  LivePhase,
  PartialAggregate,
  RoundPetSettings,
  RoundRecord,
} from '../store/coordinator-store.ts';

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
  /** The update participants this instance knows of (with several instances, the store holds them all). */
  readonly updates: Set<string>;
  /**
   * Encoded update seed dictionaries, read from the store (which every instance writes) once the
   * update phase has ended, then cached: the coordinator keeps no seed dictionary in memory.
   */
  readonly seedDictBytes: Map<string, Uint8Array>;
  /**
   * While the update phase runs: each sum participant's seed dictionary so far, encoded, and when
   * it was read (ADR 0017). Reused for `SEEDS_SO_FAR_FRESH_MS`, so however often a sum participant
   * asks, the store is read at most a few times a second for it.
   */
  readonly seedsSoFar: Map<string, { readonly bytes: Uint8Array; readonly at: number }>;
  /** This coordinator instance's name in the store's update logs (ADR 0008). */
  readonly instance: string;
  /** The sum of the updates this instance accepted: its partial aggregate. */
  aggregation: Aggregation;
  /** How many of them the store's checkpoint of this instance holds. */
  checkpointed: number;
  /** Sum participants whose Sum2 was accepted (after a restart, the store still catches duplicates). */
  readonly sum2Senders: Set<string>;
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
  const { privacy } = record;
  const params = {
    roundId: record.roundId,
    coordinatorPk: record.roundPublicKey,
    sumProbability: record.pet.sum.probability,
    updateProbability: record.pet.update.probability,
    seed: record.seed,
    maskConfig: record.maskConfig,
    modelLength: record.modelLength,
  };
  return privacy === undefined ? params : { ...params, privacy };
}

function mirror(record: RoundRecord, budget: ChunkBudget, instance: string): LiveRound {
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
    seedDictBytes: new Map(),
    seedsSoFar: new Map(),
    instance,
    aggregation: new Aggregation(record.maskConfig, record.modelLength),
    checkpointed: 0,
    sum2Senders: new Set(),
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
  instance: string,
  privacy: RoundPrivacy | undefined,
): LiveRound {
  // SECURITY: a fresh round key pair per round; the secret lives in the round record until endRound.
  const keyPair = crypto.encryptKeyPair();
  // A round that promises privacy (the run's `roundPromise`) commits to it in its seed, which every
  // task signature signs (ADR 0012).
  const record: RoundRecord = {
    v: 1,
    roundId,
    phase: 'sum',
    startedAt: now,
    phaseStartedAt: now,
    phaseDurationsMs: {},
    roundPublicKey: keyPair.publicKey,
    roundSecretKey: keyPair.secretKey,
    seed: privacy === undefined ? crypto.randomBytes(SEED_BYTES) : privacyRoundSeed(crypto, keyPair.publicKey, privacy),
    pet,
    maskConfig: settings.mask,
    modelLength: settings.model.length,
    ...(privacy === undefined ? {} : { privacy }),
  };
  return mirror(record, chunkBudget(settings), instance);
}

/** Rebuilds the mirror of a persisted round from the store (restart, or an instance joining). */
export async function restoreRound(
  store: CoordinatorStore,
  record: RoundRecord,
  settings: Settings,
  instance: string,
): Promise<LiveRound> {
  const round = mirror(record, chunkBudget(settings), instance);
  await reloadRound(store, round);
  return round;
}

/**
 * Replaces the mirror's collections (sum dictionary, updates, Sum2 senders and count, this
 * instance's partial aggregate) with the store's, in place. After a store error the write may or may not have been
 * applied (a timeout can land late): the store is the truth, so the coordinator reloads from it
 * before it answers another message (docs/security.md §5). Nothing changes if a read fails.
 */
export async function reloadRound(store: CoordinatorStore, round: LiveRound): Promise<void> {
  const { record } = round;
  const id = record.roundId;
  const sumDict = await store.sumDict(id);
  const updates = await store.updateParticipants(id);
  const own = (await store.partials(id, record.maskConfig, record.modelLength)).find(
    (p) => p.instance === round.instance,
  );
  const aggregation = combinePartials(record, own === undefined ? [] : [own]);
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
  round.seedDictBytes.clear();
  round.aggregation = aggregation;
  round.checkpointed = own?.checkpoint?.modelCount ?? 0;
  round.accepted.sum2 = 0;
  for (const count of maskCounts.values()) round.accepted.sum2 += count;
  round.sum2Senders.clear();
  for (const pk of sum2Senders) round.sum2Senders.add(pk);
}

/** The sum of the partial aggregates' checkpoints and log tails. */
export function combinePartials(record: RoundRecord, partials: readonly PartialAggregate[]): Aggregation {
  let aggregation = new Aggregation(record.maskConfig, record.modelLength);
  for (const { checkpoint, tail } of partials) {
    if (checkpoint !== undefined && checkpoint.modelCount > 0) {
      if (aggregation.modelCount === 0) aggregation = Aggregation.restore(checkpoint.object, checkpoint.modelCount);
      else aggregation.merge(Aggregation.restore(checkpoint.object, checkpoint.modelCount));
    }
    for (const masked of tail) aggregation.aggregate(masked);
  }
  return aggregation;
}

/**
 * Saves this instance's partial aggregate as its checkpoint once `every` updates accumulated since
 * the last one (the store then drops them from the log: ADR 0008). A store that logged more of
 * this instance's updates than the partial holds (a write that failed here landed after all)
 * answers 'behind': the partial is rebuilt from the store. A failed checkpoint loses nothing — the
 * log keeps the updates — so it is retried at the next update.
 */
export async function checkpointPartial(store: CoordinatorStore, round: LiveRound, every: number): Promise<void> {
  const { aggregation } = round;
  if (aggregation.modelCount - round.checkpointed < every) return;
  const { record } = round;
  const answer = await store.checkpoint(record.roundId, round.instance, {
    modelCount: aggregation.modelCount,
    object: aggregation.toMaskObject(),
  });
  if (answer === 'saved') {
    round.checkpointed = aggregation.modelCount;
    return;
  }
  const own = (await store.partials(record.roundId, record.maskConfig, record.modelLength)).find(
    (p) => p.instance === round.instance,
  );
  round.aggregation = combinePartials(record, own === undefined ? [] : [own]);
  round.checkpointed = own?.checkpoint?.modelCount ?? 0;
}

/** How long a seed dictionary so far is answered from memory before the store is read again (ADR 0017). */
export const SEEDS_SO_FAR_FRESH_MS = 250;

/**
 * The update seed dictionary one sum participant fetches: once the update phase has ended, read from
 * the store and encoded once per round; while it runs, the dictionary so far (ADR 0017), read again
 * once it is `SEEDS_SO_FAR_FRESH_MS` old at `now`.
 */
export async function updateSeedDictBytes(
  store: CoordinatorStore,
  round: LiveRound,
  sumPk: string,
  now: number,
): Promise<Uint8Array> {
  if (round.record.phase === 'update') {
    const kept = round.seedsSoFar.get(sumPk);
    if (kept !== undefined && now - kept.at < SEEDS_SO_FAR_FRESH_MS && now >= kept.at) return kept.bytes;
    const bytes = encodeUpdateSeedDict(await store.updateSeedDict(round.record.roundId, sumPk));
    round.seedsSoFar.set(sumPk, { bytes, at: now });
    return bytes;
  }
  round.seedsSoFar.clear();
  let bytes = round.seedDictBytes.get(sumPk);
  if (bytes === undefined) {
    bytes = encodeUpdateSeedDict(await store.updateSeedDict(round.record.roundId, sumPk));
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
