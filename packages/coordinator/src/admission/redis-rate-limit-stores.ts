/**
 * Rate-limit counters in Redis (docs/security.md §2), so that several
 * coordinator instances behind one address share each client's and each
 * subject's budget. hono-rate-limiter's `RedisStore` counts with its own Lua
 * scripts (INCR plus a window expiry, atomically); this file adapts an ioredis
 * client to the client shape it expects and turns Redis failures into
 * StoreErrors, which the app answers 503 `unavailable`.
 *
 * Keys: `<prefix>:<limit name>:<key>`, e.g. `petfl:rate:message-ip:203.0.113.7`,
 * each expiring at the end of its one-minute window.
 */

import { type RedisClient, RedisStore } from 'hono-rate-limiter';
import { Redis } from 'ioredis';
import { StoreError } from '../store/store-error.ts';
import type { RateLimitStores } from './rate-limit.ts';

export const DEFAULT_RATE_LIMIT_PREFIX = 'petfl:rate';

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class RedisRateLimitStores {
  private lastConnectionError: Error | undefined;
  private readonly redis: RedisClient;

  private readonly client: Redis;
  private readonly prefix: string;

  private constructor(client: Redis, prefix: string) {
    this.client = client;
    this.prefix = prefix;
    const guard = async <T>(op: string, body: () => Promise<T>): Promise<T> => {
      try {
        return await body();
      } catch (error) {
        const last = this.lastConnectionError;
        const detail =
          last !== undefined && last.message !== messageOf(error) ? ` (last connection error: ${last.message})` : '';
        throw new StoreError(`redis rate limit ${op}: ${messageOf(error)}${detail}`, { cause: error });
      }
    };
    this.redis = {
      scriptLoad: (script) => guard('script load', async () => String(await client.script('LOAD', script))),
      evalsha: <TArgs extends unknown[], TData = unknown>(sha1: string, keys: string[], args: TArgs) =>
        guard('count', async () => (await client.evalsha(sha1, keys.length, ...keys, ...args.map(String))) as TData),
      decr: (key) => guard('decrement', () => client.decr(key)),
      del: (key) => guard('reset', () => client.del(key)),
    };
  }

  /** Connects and checks that Redis answers, so a wrong URL fails at start-up. */
  static async connect(url: string, prefix = DEFAULT_RATE_LIMIT_PREFIX): Promise<RedisRateLimitStores> {
    const client = new Redis(url, {
      connectionName: 'petfl-rate-limits',
      // Every participant request waits on a count: a refused connection fails a command after about
      // 1 s (one reconnection attempt), an unanswering server after 2 s, never hanging requests.
      enableOfflineQueue: true,
      maxRetriesPerRequest: 1,
      connectTimeout: 3_000,
      commandTimeout: 2_000,
      retryStrategy: (attempt) => Math.min(attempt * 100, 500),
    });
    const stores = new RedisRateLimitStores(client, prefix);
    // ioredis reports connection failures as 'error' events (and logs them when nobody listens).
    client.on('error', (error: Error) => {
      stores.lastConnectionError = error;
    });
    try {
      await client.ping();
    } catch (error) {
      client.disconnect();
      throw new StoreError(`redis rate limit connect: ${messageOf(error)}`, { cause: error });
    }
    return stores;
  }

  /** The store of one named limit. */
  readonly storeFor: RateLimitStores = (name) =>
    new RedisStore({ client: this.redis, prefix: `${this.prefix}:${name}:` });

  async close(): Promise<void> {
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect(); // already closed or unreachable: nothing left to flush
    }
  }
}
