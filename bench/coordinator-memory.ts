/**
 * Child process of `bench/coordinator.bench.ts` (memory figure): a coordinator
 * in this fresh process takes a sum phase of 3 participants, then N update
 * messages of `--length` weights through `POST /message`. Each update is
 * masked, sealed, posted and dropped before the next is built, so the process
 * never holds more than one message: what grows with N is the coordinator's
 * own state. RSS is sampled after every message; the result is one JSON line
 * on stdout.
 *
 *   node --import tsx bench/coordinator-memory.ts --updates 1000 --length 100000
 */

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createCoordinatorApp } from '../packages/coordinator/src/create.ts';
import { PrometheusMetrics } from '../packages/coordinator/src/prometheus/prometheus-metrics.ts';
import { parseSettings } from '../packages/coordinator/src/settings.ts';
import { MemoryModelStore } from '../packages/coordinator/src/store/memory-model-store.ts';
import { MemoryCoordinatorStore } from '../packages/coordinator/src/store/memory-store.ts';
import { ManualClock } from '../packages/coordinator/test-support/manual-clock.ts';
import {
  type Fetch,
  fetchParams,
  fetchSumDict,
  identities,
  pickTasks,
  post,
  randomModel,
  sumMessage,
  updateMessage,
} from '../packages/coordinator/test-support/sim.ts';
import { configName, initCrypto } from '../packages/core/src/index.ts';

const { values } = parseArgs({
  options: { updates: { type: 'string', default: '10' }, length: { type: 'string', default: '100000' } },
});
const UPDATES = Number(values.updates);
const LENGTH = Number(values.length);
const SUMS = 3;
const SUM_PROBABILITY = 0.1;

const crypto = await initCrypto();
const settings = parseSettings(undefined, {
  PETFL_MODEL_LENGTH: String(LENGTH),
  PETFL_PET_SUM_PROBABILITY: String(SUM_PROBABILITY),
  PETFL_PET_UPDATE_PROBABILITY: '1',
  PETFL_PET_SUM_COUNT_MIN: String(SUMS),
  PETFL_PET_SUM_COUNT_MAX: String(SUMS),
  PETFL_PET_UPDATE_COUNT_MIN: String(UPDATES),
  PETFL_PET_UPDATE_COUNT_MAX: String(UPDATES),
  PETFL_PET_SUM2_COUNT_MIN: String(SUMS),
  PETFL_PET_SUM2_COUNT_MAX: String(SUMS),
  PETFL_PET_SUM_TIME_MAX_MS: '3600000',
  PETFL_SAFETY_ALLOW_UNSAFE_SMALL_ROUNDS: 'true',
  PETFL_PET_UPDATE_TIME_MAX_MS: '3600000',
  PETFL_PET_SUM2_TIME_MAX_MS: '3600000',
});
const created = await createCoordinatorApp(settings, {
  crypto,
  clock: new ManualClock(),
  store: new MemoryCoordinatorStore(),
  models: new MemoryModelStore(),
  metrics: new PrometheusMetrics(),
});
const fetch: Fetch = async (path, init) => created.app.request(path, init);

function expectAccepted(result: { status: number; code?: string }, what: string): void {
  if (result.status !== 202) throw new Error(`${what}: ${result.status} ${result.code ?? ''}`);
}

const params = await fetchParams(fetch);
let picked: ReturnType<typeof pickTasks> | undefined;
for (let size = Math.ceil((UPDATES + SUMS) * 1.3) + 64; picked === undefined; size *= 2) {
  try {
    picked = pickTasks(crypto, params, identities(crypto, size, 1), { sum: SUMS, update: UPDATES });
  } catch (error) {
    if (size > 1_000_000) throw error;
  }
}
const { sum, update } = picked;
for (const p of sum) expectAccepted(await post(fetch, sumMessage(crypto, params, p)), 'sum');
const sumDict = await fetchSumDict(fetch);
if (sumDict === undefined) throw new Error('the sum phase did not end');

const rss = () => process.memoryUsage().rss;
const baselineRss = rss();
let maxRss = baselineRss;
let maxHeapUsed = process.memoryUsage().heapUsed;
let maxArrayBuffers = process.memoryUsage().arrayBuffers;
const started = performance.now();
for (const [i, p] of update.entries()) {
  // Generate, post, drop: the only message alive is this one.
  const [message] = updateMessage(crypto, params, p, sumDict, randomModel(LENGTH, i + 1), 1 + (i % 5));
  if (message === undefined) throw new Error('no message');
  expectAccepted(await post(fetch, message), `update ${i}`);
  const usage = process.memoryUsage();
  maxRss = Math.max(maxRss, usage.rss);
  maxHeapUsed = Math.max(maxHeapUsed, usage.heapUsed);
  maxArrayBuffers = Math.max(maxArrayBuffers, usage.arrayBuffers);
}
const seconds = (performance.now() - started) / 1000;
const status = created.coordinator.status();
if (status.counts.update !== UPDATES || status.phase !== 'sum2') {
  throw new Error(
    `expected ${UPDATES} updates and the sum2 phase, got ${JSON.stringify(status.counts)} ${status.phase}`,
  );
}
await created.close();

const MB = 1024 * 1024;
/**
 * VmHWM from /proc (Linux), not `process.resourceUsage().maxRSS`: getrusage's maxrss survives
 * execve, so a spawned child reports its parent's RSS at fork time when that was larger.
 */
function vmHwm(): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}
const vmHwmKB = vmHwm();
console.log(
  JSON.stringify({
    updates: UPDATES,
    weights: LENGTH,
    config: configName(settings.mask),
    baselineRssMB: baselineRss / MB,
    maxSampledRssMB: maxRss / MB,
    // The kernel's high-water mark of this process's memory (catches peaks between samples).
    maxRssMB: vmHwmKB === undefined ? maxRss / MB : vmHwmKB / 1024,
    maxHeapUsedMB: maxHeapUsed / MB,
    maxArrayBuffersMB: maxArrayBuffers / MB,
    seconds,
  }),
);
