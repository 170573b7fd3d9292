/**
 * The embedded coordinator store: the `CoordinatorStore` port kept in this
 * process's memory. It is the default for a single coordinator that may lose
 * its round on restart (the round then simply fails and the next starts), and
 * the reference the Redis store is checked against (both pass
 * `coordinator-store.conformance.ts`).
 *
 * Everything that goes in is copied and everything that comes out is a copy,
 * so a caller that later mutates a buffer it passed (or got back) cannot
 * change what is stored — the same guarantee a store that serializes gives.
 */

import { type MaskConfig, sameConfig } from '@petfl/core';
import {
  type AggregateRecord,
  type CoordinatorMeta,
  type CoordinatorStore,
  DEFAULT_META,
  HISTORY_LIMIT,
  type RoundRecord,
  type RoundSummary,
} from './coordinator-store.ts';
import { StoreError } from './store-error.ts';

/** Everything kept for the round in progress; replaced wholesale by `startRound`, dropped by `endRound`. */
interface RoundData {
  record: RoundRecord;
  readonly sums: Map<string, Uint8Array>;
  readonly updates: Set<string>;
  /** The seed dictionary: sum participant → (update participant → encrypted mask seed). */
  readonly seeds: Map<string, Map<string, Uint8Array>>;
  aggregate: AggregateRecord | undefined;
  /** Sum2 sender → the hash of the aggregated mask it sent. */
  readonly sum2: Map<string, string>;
  readonly maskCounts: Map<string, number>;
  /** Mask hash → the first sender's encoded mask. */
  readonly masks: Map<string, Uint8Array>;
}

function copyAggregate(aggregate: AggregateRecord): AggregateRecord {
  const { object } = aggregate;
  return {
    modelCount: aggregate.modelCount,
    object: {
      config: { ...object.config },
      length: object.length,
      vector: object.vector.slice(),
      scalar: object.scalar.slice(),
    },
  };
}

function copyBytesMap(map: ReadonlyMap<string, Uint8Array>): Map<string, Uint8Array> {
  return new Map([...map].map(([key, bytes]) => [key, bytes.slice()]));
}

export class MemoryCoordinatorStore implements CoordinatorStore {
  private round: RoundData | undefined;
  private lastId = 0;
  /** Newest first, at most HISTORY_LIMIT. */
  private readonly finished: RoundSummary[] = [];
  private meta: CoordinatorMeta = DEFAULT_META;

  async loadRound(): Promise<RoundRecord | undefined> {
    // SECURITY: hands the coordinator a copy of the round secret key; the coordinator owns that
    // copy and this store keeps its own until `endRound` (or the next `startRound`) wipes it.
    return this.round === undefined ? undefined : structuredClone(this.round.record);
  }

  async lastRoundId(): Promise<number> {
    return this.lastId;
  }

  async startRound(round: RoundRecord): Promise<void> {
    this.dropRound();
    // SECURITY: keeps a private copy of the round secret key, wiped by `dropRound` when the round ends.
    this.round = {
      record: structuredClone(round),
      sums: new Map(),
      updates: new Set(),
      seeds: new Map(),
      aggregate: undefined,
      sum2: new Map(),
      maskCounts: new Map(),
      masks: new Map(),
    };
    this.lastId = Math.max(this.lastId, round.roundId);
  }

  async saveRound(round: RoundRecord): Promise<void> {
    const data = this.roundData('saveRound', round.roundId);
    const previous = data.record;
    // SECURITY: the new record carries the same round secret key; the copy it replaces is wiped.
    data.record = structuredClone(round);
    previous.roundSecretKey.fill(0);
  }

  async endRound(summary: RoundSummary): Promise<void> {
    this.roundData('endRound', summary.roundId);
    this.finished.unshift(structuredClone(summary));
    this.finished.length = Math.min(this.finished.length, HISTORY_LIMIT);
    this.dropRound();
  }

  async addSumParticipant(
    roundId: number,
    participantPk: string,
    ephemeralPk: Uint8Array,
  ): Promise<'added' | 'duplicate'> {
    const { sums } = this.roundData('addSumParticipant', roundId);
    if (sums.has(participantPk)) return 'duplicate';
    sums.set(participantPk, ephemeralPk.slice());
    return 'added';
  }

  async sumDict(roundId: number): Promise<ReadonlyMap<string, Uint8Array>> {
    return copyBytesMap(this.roundData('sumDict', roundId).sums);
  }

  async addUpdate(
    roundId: number,
    participantPk: string,
    localSeedDict: ReadonlyMap<string, Uint8Array>,
    aggregate: AggregateRecord,
  ): Promise<'added' | 'duplicate'> {
    const data = this.roundData('addUpdate', roundId);
    if (data.updates.has(participantPk)) return 'duplicate';
    // Copy everything before changing anything: a throw half-way (it cannot, but) must not
    // leave the participant recorded without its seeds.
    // The aggregate object is handed over (CoordinatorStore.addUpdate): kept, not copied.
    const kept: AggregateRecord = { modelCount: aggregate.modelCount, object: aggregate.object };
    const seeds = copyBytesMap(localSeedDict);
    data.updates.add(participantPk);
    for (const [sumPk, encryptedSeed] of seeds) {
      let column = data.seeds.get(sumPk);
      if (column === undefined) {
        column = new Map();
        data.seeds.set(sumPk, column);
      }
      column.set(participantPk, encryptedSeed);
    }
    data.aggregate = kept;
    return 'added';
  }

  async updateParticipants(roundId: number): Promise<ReadonlySet<string>> {
    return new Set(this.roundData('updateParticipants', roundId).updates);
  }

  async updateSeedDict(roundId: number, sumParticipantPk: string): Promise<ReadonlyMap<string, Uint8Array>> {
    const column = this.roundData('updateSeedDict', roundId).seeds.get(sumParticipantPk);
    return column === undefined ? new Map() : copyBytesMap(column);
  }

  async loadAggregate(roundId: number, config: MaskConfig, length: number): Promise<AggregateRecord | undefined> {
    const { aggregate } = this.roundData('loadAggregate', roundId);
    if (aggregate === undefined) return undefined;
    const { object } = aggregate;
    // The memory store cannot corrupt bytes, but it can hold an aggregate of another shape if the
    // caller stored one; that is the same error a Redis aggregate failing to decode is.
    if (!sameConfig(object.config, config) || object.length !== length) {
      throw new StoreError(
        `loadAggregate: the stored aggregate of round ${roundId} has ${object.length} weights under ` +
          `${JSON.stringify(object.config)}, expected ${length} under ${JSON.stringify(config)}`,
      );
    }
    return copyAggregate(aggregate);
  }

  async addMask(
    roundId: number,
    participantPk: string,
    maskHash: string,
    encodedMask: Uint8Array,
  ): Promise<'added' | 'duplicate'> {
    const data = this.roundData('addMask', roundId);
    if (data.sum2.has(participantPk)) return 'duplicate';
    data.sum2.set(participantPk, maskHash);
    data.maskCounts.set(maskHash, (data.maskCounts.get(maskHash) ?? 0) + 1);
    if (!data.masks.has(maskHash)) data.masks.set(maskHash, encodedMask.slice());
    return 'added';
  }

  async maskCounts(roundId: number): Promise<ReadonlyMap<string, number>> {
    return new Map(this.roundData('maskCounts', roundId).maskCounts);
  }

  async sum2Senders(roundId: number): Promise<ReadonlySet<string>> {
    return new Set(this.roundData('sum2Senders', roundId).sum2.keys());
  }

  async ping(): Promise<void> {}

  async loadMask(roundId: number, maskHash: string): Promise<Uint8Array | undefined> {
    return this.roundData('loadMask', roundId).masks.get(maskHash)?.slice();
  }

  async history(limit: number): Promise<readonly RoundSummary[]> {
    return structuredClone(this.finished.slice(0, Math.max(0, limit)));
  }

  async loadMeta(): Promise<CoordinatorMeta> {
    return structuredClone(this.meta);
  }

  async saveMeta(meta: CoordinatorMeta): Promise<void> {
    this.meta = structuredClone(meta);
  }

  /** Nothing to release; the data lives as long as this object (a reopen is this same instance). */
  async close(): Promise<void> {}

  /** The round in progress, if it is `roundId`; a StoreError otherwise (a late write never lands). */
  private roundData(op: string, roundId: number): RoundData {
    const { round } = this;
    if (round === undefined || round.record.roundId !== roundId) {
      const now = round === undefined ? 'no round is' : `round ${round.record.roundId} is`;
      throw new StoreError(`${op}: round ${roundId} is not the round in progress (${now})`);
    }
    return round;
  }

  private dropRound(): void {
    // SECURITY: the store's copy of the round secret key is wiped as the round is dropped.
    this.round?.record.roundSecretKey.fill(0);
    this.round = undefined;
  }
}
