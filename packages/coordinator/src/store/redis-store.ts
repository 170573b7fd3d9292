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
 * fields are base64url (CONVENTIONS §8), validated in full when read back —
 * a corrupt value is a `StoreError`, never a half-loaded record.
 *
 * Key layout (`p` = the key prefix, `petfl` by default; `id` = round id):
 *
 * ```text
 *   p:current                  string  id of the round in progress (absent: none)
 *   p:last-round-id            string  highest round id ever started
 *   p:meta                     string  CoordinatorMeta JSON
 *   p:history                  list    RoundSummary JSON ({v: 1, …}), newest first, ≤ HISTORY_LIMIT
 *   p:r:id:round               string  RoundRecord JSON ({v: 1, …}) — holds the round secret key
 *   p:r:id:sums                hash    sum participant → ephemeral public key (raw)
 *   p:r:id:updates             set     update participants
 *   p:r:id:seeds:<sum pk>      hash    update participant → encrypted mask seed (raw): one
 *                                      sum participant's update seed dictionary
 *   p:r:id:seed-index          set     the sum participants that have a seeds hash (to delete them)
 *   p:r:id:aggregate           hash    mask → encodeMaskObject bytes, models → model count
 *   p:r:id:sum2                hash    Sum2 sender → the hash of its aggregated mask
 *   p:r:id:mask-counts         hash    mask hash → number of senders
 *   p:r:id:masks               hash    mask hash → the first sender's encoded mask (raw)
 * ```
 *
 * Participant keys are base64url (protocol.md §3.8), so they are safe in key names. The scripts
 * declare every key they touch, but the multi-key scripts and transactions assume one Redis
 * instance (no Cluster). The coordinator is the single writer (coordinator-store.ts); WATCH on
 * the round's keys still turns a concurrent writer into an error instead of orphaned keys.
 */

import { decodeMaskObject, encodeMaskObject, type MaskConfig } from '@petfl/core';
import { type ChainableCommander, Redis } from 'ioredis';
import {
  type AggregateRecord,
  type CoordinatorMeta,
  type CoordinatorStore,
  DEFAULT_META,
  HISTORY_LIMIT,
  type RoundRecord,
  type RoundSummary,
} from './coordinator-store.ts';
import { type RedisStoreKeys, redisStoreKeys, roundKeys } from './redis/keys.ts';
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
      /** Prefix of every key (default `petfl`); one prefix per coordinator. */
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

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class RedisCoordinatorStore implements CoordinatorStore {
  private readonly client: Redis;
  private readonly scripts: ScriptedRedis;
  private readonly keys: RedisStoreKeys;
  private readonly ownsClient: boolean;
  private lastConnectionError: Error | undefined;

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
        const [, current, last] = await this.exec(
          'startRound',
          this.client.pipeline().watch(k.current, k.lastRoundId).get(k.current).get(k.lastRoundId),
        );
        const lastId = typeof last === 'string' ? storedInteger(k.lastRoundId, last) : 0;
        const previous =
          typeof current === 'string' ? await this.roundKeysWatched(storedInteger(k.current, current)) : [];
        const tx = this.client.multi();
        // SECURITY: deleting the previous round's keys deletes its record and round secret key.
        if (previous.length > 0) tx.del(...previous);
        // SECURITY: writes the new round's record, round secret key included (see encodeRoundRecord).
        tx.set(k.round(round.roundId), text)
          .set(k.current, String(round.roundId))
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
      const outcome = await this.scripts.petflSaveRound(this.keys.current, this.keys.round(round.roundId), id, text);
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
        const [, current, sumPks] = await this.exec(
          'endRound',
          this.client.pipeline().watch(k.current, index).get(k.current).smembers(index),
        );
        this.expectRound('endRound', roundId, current);
        // One MULTI: the summary lands in the history exactly when the round's keys go.
        // SECURITY: deleting the round's keys deletes its record, and with it the round secret key.
        await this.exec(
          'endRound',
          this.client
            .multi()
            .lpush(k.history, text)
            .ltrim(k.history, 0, HISTORY_LIMIT - 1)
            .del(...roundKeys(k, roundId, sumPks as string[]), k.current),
        );
      });
    });
  }

  addSumParticipant(roundId: number, participantPk: string, ephemeralPk: Uint8Array): Promise<'added' | 'duplicate'> {
    return this.guard('addSumParticipant', async () => {
      const outcome = await this.scripts.petflAddSumParticipant(
        this.keys.current,
        this.keys.sums(roundId),
        String(roundId),
        participantPk,
        toBuffer(ephemeralPk),
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
    aggregate: AggregateRecord,
  ): Promise<'added' | 'duplicate'> {
    return this.guard('addUpdate', async () => {
      const k = this.keys;
      const { modelCount } = aggregate;
      if (!Number.isSafeInteger(modelCount) || modelCount < 0) {
        throw new StoreError(`addUpdate: aggregate.modelCount: expected a non-negative integer, got ${modelCount}`);
      }
      const encoded = encodeMaskObject(aggregate.object);
      const seedKeys: string[] = [];
      const seedArgs: (string | Buffer)[] = [];
      for (const [sumPk, encryptedSeed] of localSeedDict) {
        seedKeys.push(k.seeds(roundId, sumPk));
        seedArgs.push(sumPk, toBuffer(encryptedSeed));
      }
      const keys = [k.current, k.updates(roundId), k.aggregate(roundId), k.seedIndex(roundId), ...seedKeys];
      const outcome = await this.scripts.petflAddUpdate(
        keys.length,
        ...keys,
        String(roundId),
        participantPk,
        // encodeMaskObject's output is ours alone: a view, not a copy, of a possibly large buffer.
        Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength),
        String(modelCount),
        ...seedArgs,
      );
      return this.outcome('addUpdate', roundId, outcome);
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

  loadAggregate(roundId: number, config: MaskConfig, length: number): Promise<AggregateRecord | undefined> {
    return this.guard('loadAggregate', async () => {
      const key = this.keys.aggregate(roundId);
      const [reply] = await this.inRound('loadAggregate', roundId, (tx) => tx.hgetallBuffer(key));
      const fields = reply as Record<string, Buffer>;
      const mask = fields['mask'];
      const models = fields['models'];
      if (mask === undefined && models === undefined) return undefined;
      if (mask === undefined || models === undefined) {
        throw new StoreError(
          `redis ${key}: corrupt value: expected fields mask and models, got ${Object.keys(fields)}`,
        );
      }
      const modelCount = storedInteger(`${key} models`, models.toString('latin1'));
      try {
        // decodeMaskObject range-checks every element and copies them out of the reply buffer.
        return { modelCount, object: decodeMaskObject(mask, { config, length }) };
      } catch (error) {
        throw new StoreError(`redis ${key}: corrupt aggregate: ${messageOf(error)}`, { cause: error });
      }
    });
  }

  addMask(
    roundId: number,
    participantPk: string,
    maskHash: string,
    encodedMask: Uint8Array,
  ): Promise<'added' | 'duplicate'> {
    return this.guard('addMask', async () => {
      const k = this.keys;
      const outcome = await this.scripts.petflAddMask(
        k.current,
        k.sum2(roundId),
        k.maskCounts(roundId),
        k.masks(roundId),
        String(roundId),
        participantPk,
        maskHash,
        toBuffer(encodedMask),
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

  /** Quits the connection this store opened (waiting for pending replies); a client passed in is its owner's. */
  async close(): Promise<void> {
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
    const [, sumPks] = await this.exec('startRound', this.client.pipeline().watch(index).smembers(index));
    return roundKeys(this.keys, roundId, sumPks as string[]);
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

  private expectRound(op: string, roundId: number, current: unknown): void {
    if (current !== String(roundId)) {
      const now = typeof current === 'string' ? `round ${current} is` : 'no round is';
      throw new StoreError(`${op}: round ${roundId} is not the round in progress (${now})`);
    }
  }

  private outcome(op: string, roundId: number, reply: number): 'added' | 'duplicate' {
    switch (reply) {
      case 1:
        return 'added';
      case 0:
        return 'duplicate';
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
