/**
 * @petfl/coordinator/redis — the Redis adapters (ioredis): the coordinator
 * store shared by every coordinator instance on one Redis, and the rate-limit
 * counters they share (docs/security.md §2). Pass them to
 * `createCoordinatorApp` as `store` and `rateLimitStores`;
 * `@petfl/coordinator/node` does when `store.kind = "redis"`.
 * Re-exports only.
 */

export { DEFAULT_RATE_LIMIT_PREFIX, RedisRateLimitStores } from '../admission/redis-rate-limit-stores.ts';
export {
  RedisCoordinatorStore,
  type RedisCoordinatorStoreOptions,
  type RedisStoreKeys,
  redisStoreKeys,
} from '../store/redis-store.ts';
