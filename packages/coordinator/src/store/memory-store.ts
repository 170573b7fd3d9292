/**
 * The embedded coordinator store: the `CoordinatorStore` port kept in this
 * process's memory. It is the default for a single coordinator that may lose
 * its round on restart (the round then simply fails and the next starts), and
 * the reference the Redis store is checked against (both pass
 * `test-support/coordinator-store.conformance.ts`).
 *
 * Everything that goes in is copied and everything that comes out is a copy,
 * so a caller that later mutates a buffer it passed (or got back) cannot
 * change what is stored — the same guarantee a store that serializes gives.
 */

import { type MaskConfig, type MaskObject, PackedMaskObject, packedVector, sameConfig } from '@petfl/core';
import {
  type AddOutcome,
  type AggregateRecord,
  type CoordinatorMeta,
  type CoordinatorStore,
  DEFAULT_META,
  HISTORY_LIMIT,
  type PartialAggregate,
  type PhaseCounts,
  type RoundRecord,
  type RoundSummary,
  type StoreNotice,
  type UpdateEntry,
} from './coordinator-store.ts';
import { StoreError } from './store-error.ts';

/** Everything kept for the round in progress; replaced wholesale by `startRound`, dropped by `endRound`. */
interface RoundData {
  record: RoundRecord;
  readonly sums: Map<string, Uint8Array>;
  readonly updates: Set<string>;
  /** The seed dictionary: sum participant → (update participant → encrypted mask seed). */
  readonly seeds: Map<string, Map<string, Uint8Array>>;
  /** Instance → its checkpoint and the masked models it logged since (ADR 0008). */
  readonly partials: Map<string, { checkpoint: AggregateRecord | undefined; tail: MaskObject[] }>;
  /** Sum2 sender → the hash of the aggregated mask it sent. */
  readonly sum2: Map<string, string>;
  readonly maskCounts: Map<string, number>;
  /** Mask hash → the first sender's encoded mask. */
  readonly masks: Map<string, Uint8Array>;
}

function copyObject(object: MaskObject): MaskObject {
  const packed = packedVector(object);
  if (packed !== undefined) {
    return new PackedMaskObject({ ...object.config }, object.length, packed.slice(), object.scalar.slice());
  }
  return {
    config: { ...object.config },
    length: object.length,
    vector: object.vector.slice(),
    scalar: object.scalar.slice(),
  };
}

/** The memory store cannot corrupt bytes, but it can hold a masked model of another shape than the round's. */
function checkShape(op: string, roundId: number, object: MaskObject, config: MaskConfig, length: number): void {
  if (!sameConfig(object.config, config) || object.length !== length) {
    throw new StoreError(
      `${op}: a stored masked model of round ${roundId} has ${object.length} weights under ` +
        `${JSON.stringify(object.config)}, expected ${length} under ${JSON.stringify(config)}`,
    );
  }
}

function copyBytesMap(map: ReadonlyMap<string, Uint8Array>): Map<string, Uint8Array> {
  return new Map([...map].map(([key, bytes]) => [key, bytes.slice()]));
}

/** What every handle of one memory store shares (`MemoryCoordinatorStore.handle`). */
class Shared {
  round: RoundData | undefined;
  lastId = 0;
  /** Newest first, at most HISTORY_LIMIT. */
  readonly finished: RoundSummary[] = [];
  meta: CoordinatorMeta = DEFAULT_META;
  lease: { instance: string; token: number; until: number } | undefined;
  lastToken = 0;
  readonly listeners = new Set<(notice: StoreNotice) => void>();
  readonly now: () => number;

  constructor(now: () => number) {
    this.now = now;
  }
}

export interface MemoryCoordinatorStoreOptions {
  /** The lease's clock (tests pass a manual one); Date.now by default. */
  readonly now?: () => number;
}

export class MemoryCoordinatorStore implements CoordinatorStore {
  private readonly s: Shared;
  private fencedBy: number | undefined;

  constructor(options: MemoryCoordinatorStoreOptions | Shared = {}) {
    this.s = options instanceof Shared ? options : new Shared(options.now ?? Date.now);
  }

  /**
   * Another handle on the same data, as a second connection to one Redis is: several coordinator
   * instances in one process (tests) each take their own, since each has its own fence.
   */
  handle(): MemoryCoordinatorStore {
    return new MemoryCoordinatorStore(this.s);
  }

  async loadRound(): Promise<RoundRecord | undefined> {
    // SECURITY: hands the coordinator a copy of the round secret key; the coordinator owns that
    // copy and this store keeps its own until `endRound` (or the next `startRound`) wipes it.
    return this.s.round === undefined ? undefined : structuredClone(this.s.round.record);
  }

  async lastRoundId(): Promise<number> {
    return this.s.lastId;
  }

  async startRound(round: RoundRecord): Promise<void> {
    this.checkFence('startRound');
    this.dropRound();
    // SECURITY: keeps a private copy of the round secret key, wiped by `dropRound` when the round ends.
    this.s.round = {
      record: structuredClone(round),
      sums: new Map(),
      updates: new Set(),
      seeds: new Map(),
      partials: new Map(),
      sum2: new Map(),
      maskCounts: new Map(),
      masks: new Map(),
    };
    this.s.lastId = Math.max(this.s.lastId, round.roundId);
  }

  async saveRound(round: RoundRecord): Promise<void> {
    this.checkFence('saveRound');
    const data = this.roundData('saveRound', round.roundId);
    const previous = data.record;
    // SECURITY: the new record carries the same round secret key; the copy it replaces is wiped.
    data.record = structuredClone(round);
    previous.roundSecretKey.fill(0);
  }

  async endRound(summary: RoundSummary): Promise<void> {
    this.checkFence('endRound');
    this.roundData('endRound', summary.roundId);
    this.s.finished.unshift(structuredClone(summary));
    this.s.finished.length = Math.min(this.s.finished.length, HISTORY_LIMIT);
    this.dropRound();
  }

  async addSumParticipant(
    roundId: number,
    participantPk: string,
    ephemeralPk: Uint8Array,
    max: number,
  ): Promise<AddOutcome> {
    const data = this.roundData('addSumParticipant', roundId);
    const { sums } = data;
    if (data.record.phase !== 'sum') return 'closed';
    if (sums.has(participantPk)) return 'duplicate';
    if (sums.size >= max) return 'full';
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
    entry: UpdateEntry,
    max: number,
  ): Promise<AddOutcome> {
    const data = this.roundData('addUpdate', roundId);
    if (data.record.phase !== 'update') return 'closed';
    if (data.updates.has(participantPk)) return 'duplicate';
    if (data.updates.size >= max) return 'full';
    // Copy everything before changing anything: a throw half-way (it cannot, but) must not
    // leave the participant recorded without its seeds.
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
    // The masked model is handed over (UpdateEntry): logged as is, not copied.
    this.partialOf(data, entry.instance).tail.push(entry.maskedModel);
    return 'added';
  }

  async checkpoint(roundId: number, instance: string, aggregate: AggregateRecord): Promise<'saved' | 'behind'> {
    const data = this.roundData('checkpoint', roundId);
    const { modelCount } = aggregate;
    if (!Number.isSafeInteger(modelCount) || modelCount < 0) {
      throw new StoreError(`checkpoint: aggregate.modelCount: expected a non-negative integer, got ${modelCount}`);
    }
    const partial = data.partials.get(instance);
    const logged = (partial?.checkpoint?.modelCount ?? 0) + (partial?.tail.length ?? 0);
    if (modelCount < logged) return 'behind';
    if (modelCount > logged) {
      throw new StoreError(`checkpoint: ${instance} logged fewer than ${modelCount} updates in round ${roundId}`);
    }
    // Handed over (CoordinatorStore.checkpoint): kept, not copied.
    data.partials.set(instance, { checkpoint: { modelCount, object: aggregate.object }, tail: [] });
    return 'saved';
  }

  async partials(roundId: number, config: MaskConfig, length: number): Promise<readonly PartialAggregate[]> {
    const data = this.roundData('partials', roundId);
    return [...data.partials].map(([instance, { checkpoint, tail }]) => {
      for (const object of [...(checkpoint === undefined ? [] : [checkpoint.object]), ...tail]) {
        checkShape('partials', roundId, object, config, length);
      }
      return {
        instance,
        checkpoint:
          checkpoint === undefined
            ? undefined
            : { modelCount: checkpoint.modelCount, object: copyObject(checkpoint.object) },
        tail: tail.map(copyObject),
      };
    });
  }

  async counts(roundId: number): Promise<PhaseCounts> {
    const data = this.roundData('counts', roundId);
    return { sum: data.sums.size, update: data.updates.size, sum2: data.sum2.size };
  }

  async updateParticipants(roundId: number): Promise<ReadonlySet<string>> {
    return new Set(this.roundData('updateParticipants', roundId).updates);
  }

  async updateSeedDict(roundId: number, sumParticipantPk: string): Promise<ReadonlyMap<string, Uint8Array>> {
    const column = this.roundData('updateSeedDict', roundId).seeds.get(sumParticipantPk);
    return column === undefined ? new Map() : copyBytesMap(column);
  }

  async addMask(
    roundId: number,
    participantPk: string,
    maskHash: string,
    encodedMask: Uint8Array,
    max: number,
  ): Promise<AddOutcome> {
    const data = this.roundData('addMask', roundId);
    if (data.record.phase !== 'sum2') return 'closed';
    if (data.sum2.has(participantPk)) return 'duplicate';
    if (data.sum2.size >= max) return 'full';
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

  async lease(instance: string, ttlMs: number): Promise<number | undefined> {
    const { s } = this;
    const now = s.now();
    if (s.lease !== undefined && s.lease.until > now && s.lease.instance !== instance) return undefined;
    const token = s.lease?.instance === instance && s.lease.until > now ? s.lease.token : ++s.lastToken;
    s.lease = { instance, token, until: now + ttlMs };
    return token;
  }

  async releaseLease(instance: string): Promise<void> {
    if (this.s.lease?.instance === instance) this.s.lease = undefined;
  }

  fence(token: number | undefined): void {
    this.fencedBy = token;
  }

  async notify(notice: StoreNotice): Promise<void> {
    // Asynchronous, as from another process: a listener never runs inside the notifier's call.
    for (const listener of [...this.s.listeners]) queueMicrotask(() => listener(notice));
  }

  async subscribe(listener: (notice: StoreNotice) => void): Promise<() => Promise<void>> {
    const own = (notice: StoreNotice) => listener(notice);
    this.s.listeners.add(own);
    return async () => {
      this.s.listeners.delete(own);
    };
  }

  private checkFence(op: string): void {
    if (this.fencedBy !== undefined && this.fencedBy !== this.s.lastToken) {
      throw new StoreError(`${op}: fenced: lease token ${this.fencedBy} was superseded by ${this.s.lastToken}`);
    }
  }

  async loadMask(roundId: number, maskHash: string): Promise<Uint8Array | undefined> {
    return this.roundData('loadMask', roundId).masks.get(maskHash)?.slice();
  }

  async history(limit: number): Promise<readonly RoundSummary[]> {
    return structuredClone(this.s.finished.slice(0, Math.max(0, limit)));
  }

  async loadMeta(): Promise<CoordinatorMeta> {
    return structuredClone(this.s.meta);
  }

  async saveMeta(meta: CoordinatorMeta): Promise<void> {
    this.s.meta = structuredClone(meta);
  }

  /** Nothing to release; the data lives as long as this object (a reopen is this same instance). */
  async close(): Promise<void> {}

  /** The round in progress, if it is `roundId`; a StoreError otherwise (a late write never lands). */
  private roundData(op: string, roundId: number): RoundData {
    const { round } = this.s;
    if (round === undefined || round.record.roundId !== roundId) {
      const now = round === undefined ? 'no round is' : `round ${round.record.roundId} is`;
      throw new StoreError(`${op}: round ${roundId} is not the round in progress (${now})`);
    }
    return round;
  }

  private partialOf(data: RoundData, instance: string) {
    let partial = data.partials.get(instance);
    if (partial === undefined) {
      partial = { checkpoint: undefined, tail: [] };
      data.partials.set(instance, partial);
    }
    return partial;
  }

  private dropRound(): void {
    // SECURITY: the store's copy of the round secret key is wiped as the round is dropped.
    this.s.round?.record.roundSecretKey.fill(0);
    this.s.round = undefined;
  }
}
