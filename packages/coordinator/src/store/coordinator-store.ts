/**
 * The coordinator store port (architecture.md §7.2): everything a round needs to
 * survive a restart — the round record, the sum dictionary, the accepted
 * updates with their seeds (the seed dictionary) and the running masked
 * aggregate, the Sum2 mask counts, the round history and the operator's
 * pause flag and next-round settings.
 *
 * Several coordinator instances may share one store (ADR 0008): each method is
 * atomic on its own (one Redis script or transaction) and is the arbiter of
 * what it checks — the round, its phase, duplicates and count.max — so two
 * instances never both take the participant that fills a phase, and a crash
 * never leaves half an update behind: an update is in the participant set,
 * the seed dictionary and its instance's update log, or in none of them.
 * Each instance sums the updates it accepted into a partial aggregate and
 * checkpoints it now and then (which trims its log); whoever unmasks combines
 * every instance's checkpoint and log tail (`partials`).
 *
 * Implementations: `MemoryCoordinatorStore` (the embedded default) and
 * `RedisCoordinatorStore`; both pass
 * `test-support/coordinator-store.conformance.ts`.
 */

import type { ChunkLimits, MaskConfig, MaskObject, RoundPrivacy } from '@petfl/core';
import type { PhaseSettings } from '../settings.ts';

/** The phases a round is persisted in (protocol.md §1.1); idle, failure and shutdown are transitions. */
export type LivePhase = 'sum' | 'update' | 'sum2';

/** The per-round PET settings, fixed when the round starts (`PUT /admin/settings` changes the next round's). */
export interface RoundPetSettings {
  readonly sum: PhaseSettings & { readonly probability: number };
  readonly update: PhaseSettings & { readonly probability: number };
  readonly sum2: PhaseSettings;
}

/** The record of the round in progress: versioned plain data (architecture.md §7.4). */
export interface RoundRecord {
  readonly v: 1;
  readonly roundId: number;
  readonly phase: LivePhase;
  /** When the round started (idle), ms since the epoch. */
  readonly startedAt: number;
  /** When the current phase started, ms since the epoch: its deadlines count from here. */
  readonly phaseStartedAt: number;
  /** Durations of the phases already ended, ms. */
  readonly phaseDurationsMs: Readonly<Partial<Record<LivePhase, number>>>;
  // SECURITY: the round secret key opens every message of this round. It lives in the
  // coordinator's memory and in this store (Redis: whoever can read the instance can read
  // it), and is deleted with the round by `endRound`.
  readonly roundPublicKey: Uint8Array;
  readonly roundSecretKey: Uint8Array;
  /** The 32-byte round seed (public: it is in the round parameters). */
  readonly seed: Uint8Array;
  readonly pet: RoundPetSettings;
  readonly maskConfig: MaskConfig;
  readonly modelLength: number;
  /**
   * The privacy the round promised (docs/privacy.md), bound into `seed` when it started: kept with
   * the round so that a restart serves, releases and charges the very promise participants signed.
   */
  readonly privacy?: RoundPrivacy;
}

/** One finished round, as listed by `GET /admin/rounds`. */
export interface RoundSummary {
  readonly roundId: number;
  readonly outcome: 'completed' | 'failed';
  /** Why a failed round failed, in plain words (a timeout names the phase and the counts). */
  readonly failureReason?: string;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly phaseDurationsMs: Readonly<Partial<Record<LivePhase | 'unmask', number>>>;
  /** Accepted messages per phase. */
  readonly participants: { readonly sum: number; readonly update: number; readonly sum2: number };
}

/** A masked aggregate: the sum of masked models and how many there are. */
export interface AggregateRecord {
  readonly modelCount: number;
  readonly object: MaskObject;
}

/**
 * What a message's write answered: taken; already there; the phase is full (count.max taken,
 * across every instance); or the round is no longer in the message's phase (another instance
 * ended it).
 */
export type AddOutcome = 'added' | 'duplicate' | 'full' | 'closed';

/** One accepted update as the store logs it: the instance that took it and its masked model. */
export interface UpdateEntry {
  /** The coordinator instance (ADR 0008): its partial aggregate holds this update once checkpointed. */
  readonly instance: string;
  /** Handed over: the caller never touches it again, so a store may keep it as is. */
  readonly maskedModel: MaskObject;
}

/** One instance's share of a round's masked aggregate: its last checkpoint plus what it took since. */
export interface PartialAggregate {
  readonly instance: string;
  readonly checkpoint: AggregateRecord | undefined;
  /** Masked models accepted by this instance after its checkpoint, oldest first. */
  readonly tail: readonly MaskObject[];
}

/**
 * What changed, as told to every instance on a store (ADR 0008): the round (started, its phase
 * changed, ended), the counts of the round's messages, or the meta (pause, settings, bans).
 */
export type StoreNotice = 'round' | 'counts' | 'meta';

/** One chunk of a multipart message (protocol.md §3.7), decoded, with the cost it is charged. */
export interface ChunkInput {
  readonly tag: number;
  readonly messageId: number;
  readonly index: number;
  readonly last: boolean;
  readonly data: Uint8Array;
  /** Its chunk payload size, at least MIN_CHUNK_COST (core's ChunkAssembler charges the same). */
  readonly cost: number;
}

/** What the store did with a chunk: held it, saw it again, completed its message, or refused it. */
export type ChunkOutcome =
  | { readonly kind: 'held' }
  | { readonly kind: 'retry' }
  | { readonly kind: 'complete'; readonly payload: Uint8Array }
  | { readonly kind: 'closed' }
  | { readonly kind: 'refused'; readonly code: 'chunk-mismatch' | 'oversized'; readonly message: string };

export interface PhaseCounts {
  readonly sum: number;
  readonly update: number;
  readonly sum2: number;
}

/** Operator state that outlives rounds. */
export interface CoordinatorMeta {
  readonly v: 1;
  /** Paused: the round in progress finishes, no new round starts until resumed. */
  readonly paused: boolean;
  /** Settings for the next round to start (from `PUT /admin/settings`), if changed. */
  readonly nextPet?: RoundPetSettings;
  /**
   * Excluded from every later round (docs/security.md §3): participant keys (base64url) whose mask
   * seeds a majority of a round's sum participants could not open, and the subjects they were
   * admitted under. Oldest first, at most `BANNED_LIMIT` each.
   */
  readonly banned?: { readonly participants: readonly string[]; readonly subjects: readonly string[] };
  /** A training run's pending restore (docs/learning.md §6): the round whose checkpoint the next unmasked round restores. */
  readonly restoreRun?: number;
}

/** How many banned participant keys (and subjects) the meta keeps; the oldest go first. */
export const BANNED_LIMIT = 100_000;

/**
 * Keys in every map are the base64url text of 32-byte public keys (protocol.md §3.8).
 * Every method that names a `roundId` acts on that round only and rejects (throws) when
 * it is not the round in progress — a late write from a previous round never lands.
 */
export interface CoordinatorStore {
  /** The round in progress, or undefined when none is. */
  loadRound(): Promise<RoundRecord | undefined>;
  /** The highest round id ever started, 0 if none. */
  lastRoundId(): Promise<number>;
  /**
   * Starts a round: deletes whatever is left of a previous round (its record, dictionaries,
   * updates, masks and aggregate) and writes `round` as the round in progress.
   */
  startRound(round: RoundRecord): Promise<void>;
  /** Replaces the record of the round in progress (a phase change); same round id. */
  saveRound(round: RoundRecord): Promise<void>;
  /**
   * Ends the round in progress: appends `summary` to the history (newest first, at most
   * `HISTORY_LIMIT` kept) and deletes the round's record and every per-round collection,
   * the round secret key with it.
   */
  endRound(summary: RoundSummary): Promise<void>;

  /**
   * Adds a sum participant → ephemeral key entry while the round is in its sum phase and holds
   * fewer than `max`; otherwise nothing changes and the answer says why.
   */
  addSumParticipant(roundId: number, participantPk: string, ephemeralPk: Uint8Array, max: number): Promise<AddOutcome>;
  /** The sum dictionary of the round. */
  sumDict(roundId: number): Promise<ReadonlyMap<string, Uint8Array>>;

  /**
   * Accepts one update atomically while the round is in its update phase and holds fewer than
   * `max`: records the participant, files each encrypted mask seed of its local seed dictionary
   * under its sum participant (the seed dictionary) and appends the masked model to the update
   * log of `entry.instance`. Otherwise nothing changes and the answer says why.
   */
  addUpdate(
    roundId: number,
    participantPk: string,
    localSeedDict: ReadonlyMap<string, Uint8Array>,
    entry: UpdateEntry,
    max: number,
  ): Promise<AddOutcome>;
  /**
   * Replaces `instance`'s checkpoint with `aggregate` — the sum of every update that instance
   * logged this round — and empties its log. 'behind' (and no change) if the store holds more
   * of its updates than `aggregate.modelCount` (a write that failed for the caller landed after
   * all): the caller rebuilds its partial from `partials`. `aggregate.object` is handed over.
   */
  checkpoint(roundId: number, instance: string, aggregate: AggregateRecord): Promise<'saved' | 'behind'>;
  /**
   * Every instance's checkpoint and log tail for the round, in no particular order. `config` and `length` are the round's;
   * stored data that does not decode under them is an error (corrupt store).
   */
  partials(roundId: number, config: MaskConfig, length: number): Promise<readonly PartialAggregate[]>;
  /** The update participants accepted so far. */
  updateParticipants(roundId: number): Promise<ReadonlySet<string>>;
  /** One sum participant's update seed dictionary: update participant → encrypted mask seed. */
  updateSeedDict(roundId: number, sumParticipantPk: string): Promise<ReadonlyMap<string, Uint8Array>>;
  /**
   * Records one Sum2 message: the sender, its aggregated mask's hash and, for the first sender of
   * that hash, the encoded mask — while the round is in its sum2 phase and holds fewer than `max`
   * Sum2 messages; otherwise nothing changes and the answer says why.
   */
  addMask(
    roundId: number,
    participantPk: string,
    maskHash: string,
    encodedMask: Uint8Array,
    max: number,
  ): Promise<AddOutcome>;
  /** Accepted messages per phase of the round, across every instance. */
  counts(roundId: number): Promise<PhaseCounts>;
  /** Mask hash → number of sum participants that sent it. */
  maskCounts(roundId: number): Promise<ReadonlyMap<string, number>>;
  /** The sum participants whose Sum2 was recorded. */
  sum2Senders(roundId: number): Promise<ReadonlySet<string>>;
  /** The encoded mask with this hash, or undefined. */
  loadMask(roundId: number, maskHash: string): Promise<Uint8Array | undefined>;

  /** Finished rounds, newest first, at most `limit`. */
  history(limit: number): Promise<readonly RoundSummary[]>;

  loadMeta(): Promise<CoordinatorMeta>;
  saveMeta(meta: CoordinatorMeta): Promise<void>;

  /** Resolves when the store answers (`GET /health`); rejects with a StoreError when it does not. */
  ping(): Promise<void>;

  // ---- several instances on one store (ADR 0008) ----

  /**
   * Optional: reassembles multipart messages in the store, with the rules and budgets of core's
   * ChunkAssembler, so that the chunks of one message may reach different instances. A store
   * without it (memory) leaves reassembly to each instance's memory.
   */
  addChunk?(
    roundId: number,
    phase: LivePhase,
    participantPk: string,
    chunk: ChunkInput,
    limits: ChunkLimits,
  ): Promise<ChunkOutcome>;
  /** Drops the incomplete multipart messages of a phase that has ended (with `addChunk`). */
  dropChunks?(roundId: number, phase: LivePhase): Promise<void>;
  /**
   * Optional: binds a participant key to the admission subject it came with for the round, so
   * that every instance sees one binding (docs/security.md §2): 'bound' (now or before, to the
   * same subject), 'other-subject' (bound to another), 'too-many' (the subject has `max` keys).
   */
  bindSubject?(
    roundId: number,
    participantPk: string,
    subject: string,
    max: number,
  ): Promise<'bound' | 'other-subject' | 'too-many'>;

  /**
   * Takes or renews the lease that makes `instance` the one instance that ends phases, starts
   * rounds and unmasks, for `ttlMs`: its fencing token while it holds the lease (a new, higher
   * token each time the lease is newly taken), undefined while another instance holds it.
   */
  lease(instance: string, ttlMs: number): Promise<number | undefined>;
  /** Gives the lease up at once if `instance` holds it (a clean shutdown: no wait for the ttl). */
  releaseLease(instance: string): Promise<void>;
  /**
   * From now on `startRound`, `saveRound` and `endRound` through this store object throw a
   * StoreError unless `token` is still the newest fencing token: a leader that lost its lease
   * (a pause longer than the ttl) cannot change the round under its successor. undefined: no check.
   */
  fence(token: number | undefined): void;
  /** Tells every instance on this store, this one included, that something changed. */
  notify(notice: StoreNotice): Promise<void>;
  /** Calls `listener` for every notice from any instance until the returned function is called. */
  subscribe(listener: (notice: StoreNotice) => void): Promise<() => Promise<void>>;

  /** Releases connections; the data stays (for Redis) or goes (for memory). */
  close(): Promise<void>;
}

/** How many finished rounds the history keeps. */
export const HISTORY_LIMIT = 1000;

export const DEFAULT_META: CoordinatorMeta = { v: 1, paused: false };
