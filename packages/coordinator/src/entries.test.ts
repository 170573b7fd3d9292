/**
 * The package's public surfaces (package.json "exports"): the
 * web-standard core and the Node, Redis and Prometheus adapters, each with its
 * own parts only — no test clock, and no platform adapter in the core.
 */

import { describe, expect, it } from 'vitest';

describe('@petfl/coordinator entries', () => {
  it('the core: the app, the wiring, the coordinator, the ports and the memory stores', async () => {
    const core = await import('@petfl/coordinator');
    for (const name of [
      'createApp',
      'createCoordinatorApp',
      'Coordinator',
      'inProcessIngest',
      'MemoryCoordinatorStore',
      'MemoryModelStore',
      'memoryRateLimitStores',
      'parseSettings',
      'systemClock',
    ]) {
      expect(core, name).toHaveProperty(name);
    }
    for (const name of [
      'ManualClock',
      'listen',
      'createNodeCoordinatorApp',
      'storeFromSettings',
      'FsModelStore',
      'RedisCoordinatorStore',
      'RedisRateLimitStores',
      'PrometheusMetrics',
      'Metrics',
      'IngestPool',
    ]) {
      expect(core, name).not.toHaveProperty(name);
    }
  });

  it('the adapters', async () => {
    expect(Object.keys(await import('@petfl/coordinator/node')).sort()).toEqual([
      'FsModelStore',
      'IngestPool',
      'autoIngestWorkers',
      'createNodeCoordinatorApp',
      'ingestWorkers',
      'listen',
      'storeFromSettings',
    ]);
    const redis = await import('@petfl/coordinator/redis');
    expect(redis).toHaveProperty('RedisCoordinatorStore');
    expect(redis).toHaveProperty('RedisRateLimitStores');
    expect(Object.keys(await import('@petfl/coordinator/prometheus'))).toEqual(['PrometheusMetrics']);
  });
});
