/**
 * The coordinator store port (CONVENTIONS §2): everything a round needs to
 * survive a restart — the round record, the sum dictionary, the accepted
 * updates with their seeds (the seed dictionary) and the running masked
 * aggregate, the Sum2 mask counts, the round history and the operator's
 * pause flag and next-round settings.
 *
 * The coordinator process is the single writer: it serializes every change
 * and keeps a mirror in memory, so the store's job is durability, not
 * arbitration. Each method is still atomic on its own (one Redis script or
 * transaction), so a crash never leaves half an update behind: an update is
 * either in the participant set, the seed dictionary and the aggregate, or
 * in none of them.
 *
 * Implementations: `MemoryCoordinatorStore` (the embedded default) and
 * `RedisCoordinatorStore`; both pass `coordinator-store.conformance.ts`.
 */

import type { MaskConfig, MaskObject } from '@petfl/core';
import type { PhaseSettings } from '../settings.ts';

/** The phases a round is persisted in (protocol.md §1.1); idle, failure and shutdown are transitions. */
export type LivePhase = 'sum' | 'update' | 'sum2';

/** The per-round PET settings, fixed when the round starts (`PUT /admin/settings` changes the next round's). */
export interface RoundPetSettings {
  readonly sum: PhaseSettings & { readonly probability: number };
  readonly update: PhaseSettings & { readonly probability: number };
  readonly sum2: PhaseSettings;
}

/** The record of the round in progress: versioned plain data (CONVENTIONS §8). */
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

/** The running masked aggregate: the sum of all accepted masked models and how many there are. */
export interface AggregateRecord {
  readonly modelCount: number;
  readonly object: MaskObject;
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

  /** Adds a sum participant → ephemeral key entry; 'duplicate' (and no change) if the participant is there. */
  addSumParticipant(roundId: number, participantPk: string, ephemeralPk: Uint8Array): Promise<'added' | 'duplicate'>;
  /** The sum dictionary of the round. */
  sumDict(roundId: number): Promise<ReadonlyMap<string, Uint8Array>>;

  /**
   * Accepts one update atomically: records the participant, files each encrypted mask seed of
   * its local seed dictionary under its sum participant (the seed dictionary), and replaces the
   * stored aggregate with `aggregate` (the aggregate including this update). 'duplicate' (and no
   * change) if the participant already sent an update this round. `aggregate.object` is handed
   * over: the caller passes a fresh copy and never touches it again, so a store may keep it as is
   * (the memory store does; a copy of a 10⁶-weight aggregate costs ~2 ms per update).
   */
  addUpdate(
    roundId: number,
    participantPk: string,
    localSeedDict: ReadonlyMap<string, Uint8Array>,
    aggregate: AggregateRecord,
  ): Promise<'added' | 'duplicate'>;
  /** The update participants accepted so far. */
  updateParticipants(roundId: number): Promise<ReadonlySet<string>>;
  /** One sum participant's update seed dictionary: update participant → encrypted mask seed. */
  updateSeedDict(roundId: number, sumParticipantPk: string): Promise<ReadonlyMap<string, Uint8Array>>;
  /**
   * The stored aggregate, or undefined when no update was accepted. `config` and `length` are the
   * round's; a stored aggregate that does not decode under them is an error (corrupt store).
   */
  loadAggregate(roundId: number, config: MaskConfig, length: number): Promise<AggregateRecord | undefined>;

  /**
   * Records one Sum2 message: the sender, its aggregated mask's hash and, for the first sender of
   * that hash, the encoded mask. 'duplicate' (and no change) if this sum participant already sent one.
   */
  addMask(
    roundId: number,
    participantPk: string,
    maskHash: string,
    encodedMask: Uint8Array,
  ): Promise<'added' | 'duplicate'>;
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

  /** Releases connections; the data stays (for Redis) or goes (for memory). */
  close(): Promise<void>;
}

/** How many finished rounds the history keeps. */
export const HISTORY_LIMIT = 1000;

export const DEFAULT_META: CoordinatorMeta = { v: 1, paused: false };
