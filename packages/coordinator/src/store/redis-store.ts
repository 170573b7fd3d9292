/**
 * The Redis coordinator store: the `CoordinatorStore` port on a Redis
 * instance, so a round in progress survives a coordinator restart.
 *
 * Every write that the port calls atomic is one Lua script or one MULTI, and
 * each script first checks that its round is the round in progress, in the
 * same atomic step: a crash never leaves half an update, and a late write
 * from a previous round never lands. Per-round data lives under keys named
 * after the round id, so a new round starts on empty keys even if deleting
 * the old ones were ever skipped. Binary values (keys, seeds, masks, the
 * aggregate) are stored as raw bytes; records are versioned JSON whose byte
 * fields are base64url (architecture.md §7.4), validated in full when read back —
 * a corrupt value is a `StoreError`, never a half-loaded record.
 *
 * Key layout (`p` = the key prefix, `petfl` by default, as a Redis Cluster hash tag: `{petfl}`;
 * `id` = round id; redis/keys.ts says why and how a prefix becomes a tag):
 *
 * ```text
 *   {p}:current                  string  id of the round in progress (absent: none)
 *   {p}:phase                    string  `<id>:<phase>` of the round in progress (the scripts check it)
 *   {p}:last-round-id            string  highest round id ever started
 *   {p}:meta                     string  CoordinatorMeta JSON ({v: 1, …})
 *   {p}:history                  list    RoundSummary JSON ({v: 1, …}), newest first, ≤ HISTORY_LIMIT
 *   {p}:r:id:round               string  RoundRecord JSON ({v: 1, …}) — holds the round secret key
 *   {p}:r:id:sums                hash    sum participant → ephemeral public key (raw)
 *   {p}:r:id:updates             set     update participants
 *   {p}:r:id:seeds:<sum pk>      hash    update participant → encrypted mask seed (raw): one
 *                                        sum participant's update seed dictionary
 *   {p}:r:id:seed-index          set     the sum participants that have a seeds hash (to delete them)
 *   {p}:r:id:instances           set     coordinator instances that logged updates (ADR 0008)
 *   {p}:r:id:partial:<instance>  hash    mask → encodeMaskObject bytes, models → model count:
 *                                        one instance's checkpoint
 *   {p}:r:id:log:<instance>      list    encoded masked models the instance took since its checkpoint
 *   {p}:r:id:sum2                hash    Sum2 sender → the hash of its aggregated mask
 *   {p}:r:id:mask-counts         hash    mask hash → number of senders
 *   {p}:r:id:masks               hash    mask hash → the first sender's encoded mask (raw)
 * ```
 *
 * The JSON records are described by Valibot schemas in redis/records.ts. Participant keys are
 * base64url (protocol.md §3.8), so they are safe in key names. The scripts declare every key they
 * touch, and every key of a store shares one hash tag, so the multi-key scripts and transactions
 * stay in one hash slot as Redis Cluster requires; the store itself still talks to one node
 * (an ioredis `Redis` client, not a `Cluster` one). Several coordinator instances may share a
 * store (ADR 0008): the scripts check the round, its phase, duplicates and count.max atomically;
 * WATCH on the round's keys turns a concurrent round change into an error instead of orphaned keys.
 */

import { type ChunkLimits, decodeMaskObject, encodeMaskObject, type MaskConfig } from '@petfl/core';
import { type ChainableCommander, Redis } from 'ioredis';
import {
  type AddOutcome,
  type AggregateRecord,
  type ChunkInput,
  type ChunkOutcome,
  type CoordinatorMeta,
  type CoordinatorStore,
  DEFAULT_META,
  HISTORY_LIMIT,
  type LivePhase,
  type PartialAggregate,
  type PhaseCounts,
  type RoundRecord,
  type RoundSummary,
  type StoreNotice,
  type UpdateEntry,
} from './coordinator-store.ts';
import { CHUNK_PHASES, chunkKeys, type RedisStoreKeys, redisStoreKeys, roundKeys } from './redis/keys.ts';
import {
  decodeMeta,
  decodeRoundRecord,
  decodeSummary,
  encodeMeta,
  encodeRoundRecord,
  encodeSummary,
  load,
  show,
  storedInteger,
} from './redis/records.ts';
import { SCRIPTS, type ScriptedRedis } from './redis/scripts.ts';
import { StoreError } from './store-error.ts';

export { type RedisStoreKeys, redisStoreKeys } from './redis/keys.ts';

// ---------------------------------------------------------------------------
// The store

export type RedisCoordinatorStoreOptions =
  | {
      /** `redis://[user:password@]host:port[/db]` */
      readonly url: string;
      /**
       * Prefix of every key (default `petfl`); one prefix per coordinator. It becomes the keys'
       * Redis Cluster hash tag (`{petfl}:current`), unless it holds one already (redis/keys.ts).
       */
      readonly keyPrefix?: string;
      /** A command with no reply after this long rejects (default 30 s): a hung server never hangs the round. */
      readonly commandTimeoutMs?: number;
    }
  | {
      /** A client the caller owns and closes; the store defines its scripts on it. */
      readonly client: Redis;
      readonly keyPrefix?: string;
    };

export const DEFAULT_KEY_PREFIX = 'petfl';

/** A command waits through at most this many reconnection attempts, then rejects. */
const MAX_RETRIES_PER_REQUEST = 2;

function toBuffer(bytes: Uint8Array): Buffer {
  // A copy: the command may wait in the offline queue while the caller reuses (or wipes) its buffer.
  return Buffer.from(bytes);
}

/** A reply buffer as a plain Uint8Array of its own (Buffers may share a pooled ArrayBuffer). */
function toBytes(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer);
}

/** The SMEMBERS replies of the three phases' chunk indexes, by phase. */
function chunkHolders(replies: readonly unknown[]): Record<(typeof CHUNK_PHASES)[number], string[]> {
  const [sum, update, sum2] = replies as string[][];
  return { sum: sum ?? [], update: update ?? [], sum2: sum2 ?? [] };
}

/** What each refusal of petflAddChunk means (core's ChunkAssembler words, protocol.md §3.7). */
function chunkRefusal(where: string, reply: number, detail: unknown, limits: ChunkLimits): ChunkOutcome {
  const mismatch = (message: string): ChunkOutcome => ({
    kind: 'refused',
    code: 'chunk-mismatch',
    message: `${where}: ${message}`,
  });
  const oversized = (message: string): ChunkOutcome => ({
    kind: 'refused',
    code: 'oversized',
    message: `${where}: ${message}`,
  });
  switch (reply) {
    case -10:
      return mismatch('expected chunk 0 first, to start the message');
    case -11:
      return mismatch(`expected tag ${String(detail)} as its earlier chunks`);
    case -12:
      return mismatch('expected a new chunk index, got one already held with other bytes');
    case -13:
      return mismatch(`expected one LAST chunk, got a second after chunk ${String(detail)}`);
    case -14:
      return mismatch(`expected LAST at or after the highest index received, ${String(detail)}`);
    case -15:
      return mismatch(`expected an index below the LAST chunk ${String(detail)}`);
    case -16:
      return mismatch('expected chunk 65535 to be the LAST chunk');
    case -17:
      return oversized(`expected at most ${limits.maxChunksPerMessage ?? 65536} chunks per message`);
    case -18:
      return oversized(
        `expected at most ${limits.maxBytesPerParticipant} bytes held for this participant, got ${String(detail)}`,
      );
    case -19:
      return oversized(`expected at most ${limits.maxTotalBytes} bytes held in total, got ${String(detail)}`);
    default:
      throw new StoreError(`redis addChunk: unexpected script reply ${show(reply)}`);
  }
}

/** A stored encoded mask object under the round's config and length; a StoreError naming the key if it is not one. */
function decodeStored(key: string, bytes: Buffer, config: MaskConfig, length: number) {
  try {
    // decodeMaskObject range-checks every element and copies them out of the reply buffer.
    return decodeMaskObject(bytes, { config, length });
  } catch (error) {
    throw new StoreError(`redis ${key}: corrupt masked model: ${messageOf(error)}`, { cause: error });
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class RedisCoordinatorStore implements CoordinatorStore {
  private readonly client: Redis;
  private readonly scripts: ScriptedRedis;
  private readonly keys: RedisStoreKeys;
  private readonly ownsClient: boolean;
  private lastConnectionError: Error | undefined;
  /** The fencing token phase-changing writes are made under (`fence`), if any. */
  private fencedBy: number | undefined;
  /** The pub/sub connection, opened by the first `subscribe`. */
  private subscriber: Redis | undefined;
  private readonly listeners = new Set<(notice: StoreNotice) => void>();

  constructor(options: RedisCoordinatorStoreOptions) {
    this.keys = redisStoreKeys(options.keyPrefix ?? DEFAULT_KEY_PREFIX);
    if ('client' in options) {
      this.client = options.client;
      this.ownsClient = false;
    } else {
      this.client = new Redis(options.url, {
        connectionName: 'petfl-coordinator',
        // Commands issued while (re)connecting wait in the offline queue, but ioredis fails the
        // queue every MAX_RETRIES_PER_REQUEST + 1 reconnection attempts. With attempts at most
        // 500 ms apart (each bounded by connectTimeout), a refused connection rejects a command
        // within about 1.5 s and an unanswering host within about 10 s: an outage never hangs.
        enableOfflineQueue: true,
        maxRetriesPerRequest: MAX_RETRIES_PER_REQUEST,
        connectTimeout: 3_000,
        commandTimeout: options.commandTimeoutMs ?? 30_000,
        retryStrategy: (attempt) => Math.min(attempt * 100, 500),
      });
      this.ownsClient = true;
      // ioredis reports connection failures as 'error' events (and logs them when nobody listens);
      // the failure itself reaches the caller as the rejected command, with this as its detail.
      this.client.on('error', (error: Error) => {
        this.lastConnectionError = error;
      });
    }
    for (const [name, definition] of Object.entries(SCRIPTS)) this.client.defineCommand(name, definition);
    // defineCommand adds the script methods at run time; ScriptedRedis names them for the compiler.
    this.scripts = this.client as unknown as ScriptedRedis;
  }

  /** Opens a store and checks Redis answers, so a wrong URL fails at startup rather than mid-round. */
  static async connect(options: RedisCoordinatorStoreOptions): Promise<RedisCoordinatorStore> {
    const store = new RedisCoordinatorStore(options);
    try {
      await store.guard('connect', () => store.client.ping());
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  loadRound(): Promise<RoundRecord | undefined> {
    return this.guard('loadRound', async () => {
      const current = await this.client.get(this.keys.current);
      if (current === null) return undefined;
      const roundId = storedInteger(this.keys.current, current);
      const key = this.keys.round(roundId);
      const text = await this.client.get(key);
      if (text === null) {
        throw new StoreError(`redis ${key}: missing: round ${roundId} is in progress but has no record`);
      }
      const round = load(key, text, decodeRoundRecord);
      if (round.roundId !== roundId) {
        throw new StoreError(
          `redis ${key}: corrupt value: round record.roundId: expected ${roundId}, got ${round.roundId}`,
        );
      }
      return round;
    });
  }

  lastRoundId(): Promise<number> {
    return this.guard('lastRoundId', async () => {
      const text = await this.client.get(this.keys.lastRoundId);
      return text === null ? 0 : storedInteger(this.keys.lastRoundId, text);
    });
  }

  startRound(round: RoundRecord): Promise<void> {
    return this.guard('startRound', async () => {
      const k = this.keys;
      const text = encodeRoundRecord('startRound', round);
      await this.watching(async () => {
        const [, current, last, token] = await this.exec(
          'startRound',
          this.client
            .pipeline()
            .watch(k.current, k.lastRoundId, k.leaderToken)
            .get(k.current)
            .get(k.lastRoundId)
            .get(k.leaderToken),
        );
        this.checkFence('startRound', token);
        const lastId = typeof last === 'string' ? storedInteger(k.lastRoundId, last) : 0;
        const previous =
          typeof current === 'string' ? await this.roundKeysWatched(storedInteger(k.current, current)) : [];
        const tx = this.client.multi();
        // SECURITY: deleting the previous round's keys deletes its record and round secret key.
        if (previous.length > 0) tx.del(...previous);
        // SECURITY: writes the new round's record, round secret key included (see encodeRoundRecord).
        tx.set(k.round(round.roundId), text)
          .set(k.current, String(round.roundId))
          .set(k.phase, `${round.roundId}:${round.phase}`)
          .set(k.lastRoundId, String(Math.max(lastId, round.roundId)));
        await this.exec('startRound', tx);
      });
    });
  }

  saveRound(round: RoundRecord): Promise<void> {
    return this.guard('saveRound', async () => {
      const text = encodeRoundRecord('saveRound', round);
      const id = String(round.roundId);
      // SECURITY: rewrites the record, round secret key included; deleted by `endRound`.
      const k = this.keys;
      const outcome = await this.scripts.petflSaveRound(
        k.current,
        k.phase,
        k.round(round.roundId),
        k.leaderToken,
        id,
        text,
        round.phase,
        this.fencedBy === undefined ? '' : String(this.fencedBy),
      );
      if (outcome === -5) throw this.fencedError('saveRound');
      this.outcome('saveRound', round.roundId, outcome);
    });
  }

  endRound(summary: RoundSummary): Promise<void> {
    return this.guard('endRound', async () => {
      const k = this.keys;
      const roundId = summary.roundId;
      const text = encodeSummary('endRound', summary);
      await this.watching(async () => {
        const index = k.seedIndex(roundId);
        const instances = k.instances(roundId);
        const chunkIndexes = CHUNK_PHASES.map((phase) => k.chunkIndex(roundId, phase));
        const [, current, sumPks, instanceIds, token, ...holders] = await this.exec(
          'endRound',
          this.client
            .pipeline()
            .watch(k.current, index, instances, k.leaderToken, ...chunkIndexes)
            .get(k.current)
            .smembers(index)
            .smembers(instances)
            .get(k.leaderToken)
            .smembers(chunkIndexes[0] as string)
            .smembers(chunkIndexes[1] as string)
            .smembers(chunkIndexes[2] as string),
        );
        this.checkFence('endRound', token);
        this.expectRound('endRound', roundId, current);
        // One MULTI: the summary lands in the history exactly when the round's keys go.
        // SECURITY: deleting the round's keys deletes its record, and with it the round secret key.
        await this.exec(
          'endRound',
          this.client
            .multi()
            .lpush(k.history, text)
            .ltrim(k.history, 0, HISTORY_LIMIT - 1)
            .del(
              ...roundKeys(k, roundId, sumPks as string[], instanceIds as string[]),
              ...chunkKeys(k, roundId, chunkHolders(holders)),
              k.current,
              k.phase,
            ),
        );
      });
    });
  }

  addSumParticipant(roundId: number, participantPk: string, ephemeralPk: Uint8Array, max: number): Promise<AddOutcome> {
    return this.guard('addSumParticipant', async () => {
      const outcome = await this.scripts.petflAddSumParticipant(
        this.keys.current,
        this.keys.phase,
        this.keys.sums(roundId),
        String(roundId),
        participantPk,
        toBuffer(ephemeralPk),
        String(max),
      );
      return this.outcome('addSumParticipant', roundId, outcome);
    });
  }

  sumDict(roundId: number): Promise<ReadonlyMap<string, Uint8Array>> {
    return this.guard('sumDict', async () => {
      const [sums] = await this.inRound('sumDict', roundId, (tx) => tx.hgetallBuffer(this.keys.sums(roundId)));
      return bytesMap(sums);
    });
  }

  addUpdate(
    roundId: number,
    participantPk: string,
    localSeedDict: ReadonlyMap<string, Uint8Array>,
    entry: UpdateEntry,
    max: number,
  ): Promise<AddOutcome> {
    return this.guard('addUpdate', async () => {
      const k = this.keys;
      const encoded = encodeMaskObject(entry.maskedModel);
      const seedKeys: string[] = [];
      const seedArgs: (string | Buffer)[] = [];
      for (const [sumPk, encryptedSeed] of localSeedDict) {
        seedKeys.push(k.seeds(roundId, sumPk));
        seedArgs.push(sumPk, toBuffer(encryptedSeed));
      }
      const keys = [
        k.current,
        k.phase,
        k.updates(roundId),
        k.seedIndex(roundId),
        k.instances(roundId),
        k.log(roundId, entry.instance),
        ...seedKeys,
      ];
      const outcome = await this.scripts.petflAddUpdate(
        keys.length,
        ...keys,
        String(roundId),
        participantPk,
        String(max),
        entry.instance,
        // encodeMaskObject's output is ours alone: a view, not a copy, of a possibly large buffer.
        Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength),
        ...seedArgs,
      );
      return this.outcome('addUpdate', roundId, outcome);
    });
  }

  checkpoint(roundId: number, instance: string, aggregate: AggregateRecord): Promise<'saved' | 'behind'> {
    return this.guard('checkpoint', async () => {
      const k = this.keys;
      const { modelCount } = aggregate;
      if (!Number.isSafeInteger(modelCount) || modelCount < 0) {
        throw new StoreError(`checkpoint: aggregate.modelCount: expected a non-negative integer, got ${modelCount}`);
      }
      const encoded = encodeMaskObject(aggregate.object);
      const reply = await this.scripts.petflCheckpoint(
        k.current,
        k.instances(roundId),
        k.partial(roundId, instance),
        k.log(roundId, instance),
        String(roundId),
        instance,
        String(modelCount),
        Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength),
      );
      if (reply === 1) return 'saved';
      if (reply === 0) return 'behind';
      if (reply === -4) {
        throw new StoreError(`checkpoint: ${instance} logged fewer than ${modelCount} updates in round ${roundId}`);
      }
      this.outcome('checkpoint', roundId, reply);
      throw new StoreError(`redis checkpoint: unexpected script reply ${show(reply)}`);
    });
  }

  partials(roundId: number, config: MaskConfig, length: number): Promise<readonly PartialAggregate[]> {
    return this.guard('partials', async () => {
      const k = this.keys;
      return this.readPartials(roundId, config, length, k);
    });
  }

  counts(roundId: number): Promise<PhaseCounts> {
    return this.guard('counts', async () => {
      const [sum, update, sum2] = await this.inRound('counts', roundId, (tx) =>
        tx.hlen(this.keys.sums(roundId)).scard(this.keys.updates(roundId)).hlen(this.keys.sum2(roundId)),
      );
      return { sum: Number(sum), update: Number(update), sum2: Number(sum2) };
    });
  }

  updateParticipants(roundId: number): Promise<ReadonlySet<string>> {
    return this.guard('updateParticipants', async () => {
      const [members] = await this.inRound('updateParticipants', roundId, (tx) =>
        tx.smembers(this.keys.updates(roundId)),
      );
      return new Set(members as string[]);
    });
  }

  updateSeedDict(roundId: number, sumParticipantPk: string): Promise<ReadonlyMap<string, Uint8Array>> {
    return this.guard('updateSeedDict', async () => {
      const [seeds] = await this.inRound('updateSeedDict', roundId, (tx) =>
        tx.hgetallBuffer(this.keys.seeds(roundId, sumParticipantPk)),
      );
      return bytesMap(seeds);
    });
  }

  /** Every instance's checkpoint and log, read in one MULTI after the instance index (WATCHed). */
  private async readPartials(
    roundId: number,
    config: MaskConfig,
    length: number,
    k: RedisStoreKeys,
  ): Promise<PartialAggregate[]> {
    const index = k.instances(roundId);
    let result: PartialAggregate[] = [];
    await this.watching(async () => {
      const [, ids] = await this.exec('partials', this.client.pipeline().watch(index).smembers(index));
      const instances = (ids as string[]).sort();
      const tx = this.client.multi().get(k.current);
      for (const instance of instances) {
        tx.hgetallBuffer(k.partial(roundId, instance)).lrangeBuffer(k.log(roundId, instance), 0, -1);
      }
      const [current, ...replies] = await this.exec('partials', tx);
      this.expectRound('partials', roundId, current);
      result = instances.map((instance, i) => {
        const key = k.partial(roundId, instance);
        const fields = replies[2 * i] as Record<string, Buffer>;
        const mask = fields['mask'];
        const models = fields['models'];
        let checkpoint: AggregateRecord | undefined;
        if (mask !== undefined || models !== undefined) {
          if (mask === undefined || models === undefined) {
            throw new StoreError(
              `redis ${key}: corrupt value: expected fields mask and models, got ${Object.keys(fields)}`,
            );
          }
          const modelCount = storedInteger(`${key} models`, models.toString('latin1'));
          checkpoint = { modelCount, object: decodeStored(key, mask, config, length) };
        }
        const logKey = k.log(roundId, instance);
        const tail = (replies[2 * i + 1] as Buffer[]).map((bytes, j) =>
          decodeStored(`${logKey}[${j}]`, bytes, config, length),
        );
        return { instance, checkpoint, tail };
      });
    });
    return result;
  }

  addMask(
    roundId: number,
    participantPk: string,
    maskHash: string,
    encodedMask: Uint8Array,
    max: number,
  ): Promise<AddOutcome> {
    return this.guard('addMask', async () => {
      const k = this.keys;
      const outcome = await this.scripts.petflAddMask(
        k.current,
        k.phase,
        k.sum2(roundId),
        k.maskCounts(roundId),
        k.masks(roundId),
        String(roundId),
        participantPk,
        maskHash,
        toBuffer(encodedMask),
        String(max),
      );
      return this.outcome('addMask', roundId, outcome);
    });
  }

  maskCounts(roundId: number): Promise<ReadonlyMap<string, number>> {
    return this.guard('maskCounts', async () => {
      const key = this.keys.maskCounts(roundId);
      const [counts] = await this.inRound('maskCounts', roundId, (tx) => tx.hgetall(key));
      return new Map(
        Object.entries(counts as Record<string, string>).map(([hash, n]) => [hash, storedInteger(`${key} ${hash}`, n)]),
      );
    });
  }

  sum2Senders(roundId: number): Promise<ReadonlySet<string>> {
    return this.guard('sum2Senders', async () => {
      const [senders] = await this.inRound('sum2Senders', roundId, (tx) => tx.hkeys(this.keys.sum2(roundId)));
      return new Set(senders as string[]);
    });
  }

  ping(): Promise<void> {
    return this.guard('ping', async () => {
      await this.client.ping();
    });
  }

  loadMask(roundId: number, maskHash: string): Promise<Uint8Array | undefined> {
    return this.guard('loadMask', async () => {
      const [mask] = await this.inRound('loadMask', roundId, (tx) => tx.hgetBuffer(this.keys.masks(roundId), maskHash));
      return mask instanceof Buffer ? toBytes(mask) : undefined;
    });
  }

  history(limit: number): Promise<readonly RoundSummary[]> {
    return this.guard('history', async () => {
      const n = Math.min(Math.floor(limit), HISTORY_LIMIT);
      if (!(n > 0)) return [];
      const key = this.keys.history;
      const texts = await this.client.lrange(key, 0, n - 1);
      return texts.map((text, i) => load(`${key}[${i}]`, text, decodeSummary));
    });
  }

  loadMeta(): Promise<CoordinatorMeta> {
    return this.guard('loadMeta', async () => {
      const text = await this.client.get(this.keys.meta);
      return text === null ? structuredClone(DEFAULT_META) : load(this.keys.meta, text, decodeMeta);
    });
  }

  saveMeta(meta: CoordinatorMeta): Promise<void> {
    return this.guard('saveMeta', async () => {
      await this.client.set(this.keys.meta, encodeMeta('saveMeta', meta));
    });
  }

  addChunk(
    roundId: number,
    phase: LivePhase,
    participantPk: string,
    chunk: ChunkInput,
    limits: ChunkLimits,
  ): Promise<ChunkOutcome> {
    return this.guard('addChunk', async () => {
      const k = this.keys;
      const keys = [
        k.current,
        k.phase,
        k.chunks(roundId, phase, participantPk),
        k.chunkBytes(roundId, phase),
        k.chunkIndex(roundId, phase),
      ];
      const reply = await this.scripts.petflAddChunkBuffer(
        keys.length,
        ...keys,
        String(roundId),
        `${roundId}:${phase}`,
        participantPk,
        String(chunk.tag),
        String(chunk.messageId),
        String(chunk.index),
        chunk.last ? '1' : '0',
        toBuffer(chunk.data),
        String(chunk.cost),
        String(limits.maxBytesPerParticipant),
        String(limits.maxTotalBytes),
        String(limits.maxChunksPerMessage ?? 65536),
      );
      const [code, ...rest] = reply;
      const where = `chunk ${chunk.index} of message ${chunk.messageId}`;
      switch (code) {
        case 0:
          return { kind: 'held' };
        case 2:
          return { kind: 'retry' };
        case 1: {
          const parts = rest as Buffer[];
          return { kind: 'complete', payload: new Uint8Array(Buffer.concat(parts)) };
        }
        case -3:
          return { kind: 'closed' };
        case -1:
          throw new StoreError(`addChunk: round ${roundId} is not the round in progress`);
        default: {
          const detail = rest[0] instanceof Buffer ? rest[0].toString('latin1') : rest[0];
          return chunkRefusal(where, Number(code), detail, limits);
        }
      }
    });
  }

  bindSubject(
    roundId: number,
    participantPk: string,
    subject: string,
    max: number,
  ): Promise<'bound' | 'other-subject' | 'too-many'> {
    return this.guard('bindSubject', async () => {
      const k = this.keys;
      const reply = await this.scripts.petflBindSubject(
        k.current,
        k.subjects(roundId),
        k.identityCounts(roundId),
        String(roundId),
        participantPk,
        subject,
        String(max),
      );
      if (reply === 1) return 'bound';
      if (reply === -6) return 'other-subject';
      if (reply === -7) return 'too-many';
      this.outcome('bindSubject', roundId, reply);
      throw new StoreError(`redis bindSubject: unexpected script reply ${show(reply)}`);
    });
  }

  dropChunks(roundId: number, phase: LivePhase): Promise<void> {
    return this.guard('dropChunks', async () => {
      const k = this.keys;
      const index = k.chunkIndex(roundId, phase);
      const holders = await this.client.smembers(index);
      await this.client.del(k.chunkBytes(roundId, phase), index, ...holders.map((pk) => k.chunks(roundId, phase, pk)));
    });
  }

  lease(instance: string, ttlMs: number): Promise<number | undefined> {
    return this.guard('lease', async () => {
      const token = await this.scripts.petflLease(this.keys.leader, this.keys.leaderToken, instance, String(ttlMs));
      return token < 0 ? undefined : token;
    });
  }

  releaseLease(instance: string): Promise<void> {
    return this.guard('releaseLease', async () => {
      await this.scripts.petflReleaseLease(this.keys.leader, instance);
    });
  }

  fence(token: number | undefined): void {
    this.fencedBy = token;
  }

  notify(notice: StoreNotice): Promise<void> {
    return this.guard('notify', async () => {
      await this.client.publish(this.keys.notices, notice);
    });
  }

  subscribe(listener: (notice: StoreNotice) => void): Promise<() => Promise<void>> {
    return this.guard('subscribe', async () => {
      if (this.subscriber === undefined) {
        // Pub/sub needs a connection of its own; ioredis re-subscribes it after a reconnection.
        const subscriber = this.client.duplicate();
        subscriber.on('error', () => undefined);
        subscriber.on('message', (channel: string, message: string) => {
          if (channel !== this.keys.notices) return;
          if (message !== 'round' && message !== 'counts' && message !== 'meta') return;
          for (const l of [...this.listeners]) l(message);
        });
        this.subscriber = subscriber;
        await subscriber.subscribe(this.keys.notices);
      }
      this.listeners.add(listener);
      return async () => {
        this.listeners.delete(listener);
      };
    });
  }

  /** Quits the connection this store opened (waiting for pending replies); a client passed in is its owner's. */
  async close(): Promise<void> {
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    this.listeners.clear();
    if (subscriber !== undefined) subscriber.disconnect();
    if (!this.ownsClient || this.client.status === 'end') return;
    if (this.client.status === 'ready') {
      try {
        await this.client.quit();
        return;
      } catch {
        // The connection failed while quitting: nothing is left to wait for.
      }
    }
    this.client.disconnect();
  }

  // -------------------------------------------------------------------------

  /** Runs a body; anything but a StoreError (a Redis or codec failure) becomes one naming the operation. */
  private async guard<T>(op: string, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      if (error instanceof StoreError) throw error;
      const last = this.lastConnectionError;
      const detail =
        last !== undefined && last.message !== messageOf(error) ? ` (last connection error: ${last.message})` : '';
      throw new StoreError(`redis ${op}: ${messageOf(error)}${detail}`, { cause: error });
    }
  }

  /** Runs a WATCH … EXEC body; if it fails before EXEC, the watch is dropped so it cannot abort a later MULTI. */
  private async watching(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (error) {
      // Not awaited: during an outage it would wait out the retries; commands stay in order anyway.
      void this.client.unwatch().catch(() => undefined);
      throw error;
    }
  }

  /** Watches a round's seed index and returns every key of that round. */
  private async roundKeysWatched(roundId: number): Promise<string[]> {
    const index = this.keys.seedIndex(roundId);
    const instances = this.keys.instances(roundId);
    const chunkIndexes = CHUNK_PHASES.map((phase) => this.keys.chunkIndex(roundId, phase));
    const [, sumPks, ids, ...holders] = await this.exec(
      'startRound',
      this.client
        .pipeline()
        .watch(index, instances, ...chunkIndexes)
        .smembers(index)
        .smembers(instances)
        .smembers(chunkIndexes[0] as string)
        .smembers(chunkIndexes[1] as string)
        .smembers(chunkIndexes[2] as string),
    );
    return [
      ...roundKeys(this.keys, roundId, sumPks as string[], ids as string[]),
      ...chunkKeys(this.keys, roundId, chunkHolders(holders)),
    ];
  }

  /** Executes a pipeline or MULTI: the replies, or a StoreError for the first failed command or an aborted MULTI. */
  private async exec(op: string, batch: ChainableCommander): Promise<unknown[]> {
    const results = await batch.exec();
    if (results === null) {
      throw new StoreError(`redis ${op}: transaction aborted: another client changed the round's keys`);
    }
    return results.map(([error, value], i) => {
      if (error) throw new StoreError(`redis ${op}: command ${i + 1} failed: ${error.message}`, { cause: error });
      return value;
    });
  }

  /** Reads in one MULTI with the round in progress, so the check and the reads see the same state. */
  private async inRound(
    op: string,
    roundId: number,
    reads: (tx: ChainableCommander) => ChainableCommander,
  ): Promise<unknown[]> {
    const [current, ...replies] = await this.exec(op, reads(this.client.multi().get(this.keys.current)));
    this.expectRound(op, roundId, current);
    return replies;
  }

  private checkFence(op: string, token: unknown): void {
    if (this.fencedBy !== undefined && token !== String(this.fencedBy)) throw this.fencedError(op, token);
  }

  private fencedError(op: string, token?: unknown): StoreError {
    const now = typeof token === 'string' ? ` by ${token}` : '';
    return new StoreError(`${op}: fenced: lease token ${this.fencedBy} was superseded${now}`);
  }

  private expectRound(op: string, roundId: number, current: unknown): void {
    if (current !== String(roundId)) {
      const now = typeof current === 'string' ? `round ${current} is` : 'no round is';
      throw new StoreError(`${op}: round ${roundId} is not the round in progress (${now})`);
    }
  }

  private outcome(op: string, roundId: number, reply: number): AddOutcome {
    switch (reply) {
      case 1:
        return 'added';
      case 0:
        return 'duplicate';
      case -2:
        return 'full';
      case -3:
        return 'closed';
      case -1:
        throw new StoreError(`${op}: round ${roundId} is not the round in progress`);
      default:
        throw new StoreError(`redis ${op}: unexpected script reply ${show(reply)}`);
    }
  }
}

function bytesMap(reply: unknown): Map<string, Uint8Array> {
  return new Map(Object.entries(reply as Record<string, Buffer>).map(([key, value]) => [key, toBytes(value)]));
}
