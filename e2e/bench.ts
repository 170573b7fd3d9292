/**
 * The e2e benchmark (issue 5 §3): 6 participant tabs of the demo app in Debian's
 * Chromium, run twice on the same machine in one go —
 *   (a) secure: petfl's coordinator and the SDK in Worker mode (the demo's mask config);
 *   (b) plain: the same pages, data, model and training, with secure aggregation replaced
 *       by plain federated averaging (BENCHMARK ONLY: support/plain-coordinator.ts and the
 *       page's `mode=plain`),
 * so the cost of privacy is a measured ratio of round latencies. Each server is a process of its
 * own (support/bench-coordinators.ts: the built `petfl-coordinator`, and the plain server), as a
 * deployment runs it, not a guest of this process's event loop, which drives the browser. Also: bytes each
 * participant uploads per round against the raw model, the time from page load to
 * the first round joined, the tabs' main-thread long tasks during the rounds
 * (PerformanceObserver 'longtask', with 'long-animation-frame' entries for which script
 * ran), the heaps of the page, of its SDK Worker and of its training Worker (the DevTools
 * protocol's Runtime.getHeapUsage on each, a Worker reached as a target the page auto-attaches),
 * and, from the pages' own
 * records (apps/web/test-hooks/records.ts), where a round's time went on the tabs' side.
 *
 * Two models (issue 13 §4), each run secure then plain: the demo's dense 784→32→10
 * (`model=demo`, 25 450 weights) and the page's `model=wide`, dense 784→1260→10 (1 001 710
 * weights), one local epoch on the tab's shard either way. The wide tabs are given
 * `backends=wasm`: timing the cpu backend on a training step of a million weights costs
 * each tab seconds at page load and always loses to wasm here.
 * Results: bench/results/e2e.json, one entry per model under `runs`.
 *
 * Phase policy, the same for both: every phase ends at the first moment its settings allow
 * — time.min 0, so as soon as count.min messages are in (sum 1, update 3, sum2 1; plain:
 * update 3). Both runs thus average 3 local models per round; the secure one pays for its
 * extra phases (a sum participant must announce itself before updates can be masked, and
 * unmasking waits for its sum2 mask), for masking and for the larger messages.
 *
 *   npm run bench:e2e [-- --rounds 8] [--models demo,wide] [--driver playwright|bare] [--blocks K]
 *
 * `--blocks K` splits each mode's rounds into K blocks run alternately (secure, plain, secure, …,
 * the tabs opened anew for each), so that a machine whose speed drifts over the run weighs on both
 * modes alike; the rounds are pooled (`runs.<model>.secure.blocks` keeps each block's report).
 * Every mode's report also gives its round latency by how many tabs had the update task
 * (`roundLatencyByUpdateTasks`).
 *
 * `--driver bare` drives a Chromium started bare over the DevTools protocol instead of through
 * Playwright (e2e/support/bare-chromium.ts), which enables the Network domain on every page and
 * Worker and makes uploads cost several times as much (`npm run bench:harness`); its results go
 * to bench/results/e2e-bare.json. `--chunk-kib N` gives the secure tabs' SDK `maxChunkData` of
 * N KiB (the page's `chunk_kib=`); without it the SDK's default (1 MiB less 192 bytes).
 *   E2E_RECORDS=<dir> npm run bench:e2e …   # the tabs' raw records and the rounds, per model and mode:
 *                                            # <dir>/<model>-<mode>.json (what tabSide is computed from)
 *   E2E_CPU_PROF=<dir> npm run bench:e2e …   # each tab's main thread and SDK Worker profiled over the
 *                                            # counted rounds (DevTools Profiler, 1 ms samples):
 *                                            # <dir>/<model>-<mode>-tab-<n>[-sdk-worker].cpuprofile, and
 *                                            # the server's process (V8): <dir>/<model>-<mode>-server.cpuprofile
 * With `--blocks K` each block writes its own: `<model>-<mode>-block-<n>…`.
 */

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type BrowserContext, chromium } from '@playwright/test';
import { childPids, cpuSeconds, machineCpu, processTree } from '../packages/coordinator/test-support/proc-stats.ts';
import { BareChromium, type CdpSession } from './support/bare-chromium.ts';
import { type BenchServer, startPlainServer, startSecureCoordinator } from './support/bench-coordinators.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './support/chromium.ts';
import type { CoordinatorConfig, PhaseConfig } from './support/coordinator.ts';
import {
  DEFAULT_BACKENDS,
  type PageTimings,
  type PhaseStep,
  participantUrl,
  type RoundUpload,
  Tab,
} from './support/tab.ts';
import { REPO_ROOT, serveStatic, webBuild } from './support/web-app.ts';
import { WEB_MODELS, type WebModel, webModelLayers, webModelLength } from './support/web-model.ts';

const TABS = 6;
const log = (line: string) => process.stdout.write(`${line}\n`);

/**
 * The update (and sum2) phase's time.max: the demo model's epoch takes a tab well under a
 * second, the wide model's several on 2 shared cores, so its phases may stay open 2 min
 * (a phase still ends the moment its count.min is in: the limit only bounds a stall).
 */
const UPDATE_MAX_MS: Record<WebModel, number> = { demo: 20_000, wide: 120_000 };

function updatePhase(model: WebModel): PhaseConfig {
  return { min: 3, max: 100, minMs: 0, maxMs: UPDATE_MAX_MS[model] };
}

function securePhases(model: WebModel): Pick<CoordinatorConfig, 'sumProbability' | 'sum' | 'update' | 'sum2'> {
  return {
    sumProbability: 0.3,
    // A round nobody is sum-eligible for fails after 3 s (and is counted, not timed).
    sum: { min: 1, max: 100, minMs: 0, maxMs: 3_000 },
    update: updatePhase(model),
    sum2: { min: 1, max: 100, minMs: 0, maxMs: UPDATE_MAX_MS[model] },
  };
}

/**
 * How many shards the training pool is cut into (the page's `shards=`; the tabs take shards
 * 0–5): one per tab for the demo model, a quarter of that for the wide one — an epoch of a
 * million weights on a whole sixth of the pool kept a round over a minute on 2 cores shared
 * by 6 tabs, so a wide tab trains one epoch on a quarter of a sixth.
 */
const SHARDS: Record<WebModel, number> = { demo: TABS, wide: 4 * TABS };

interface RoundTiming {
  readonly roundId: number;
  readonly outcome: 'completed' | 'failed';
  readonly startedAt: number;
  readonly endedAt: number;
}

interface PageRecord {
  timings: PageTimings;
  uploads: RoundUpload[];
  steps: PhaseStep[];
  backend: string;
  /** `performance.timeOrigin`: page times + this = wall-clock ms, as the servers' records. */
  timeOrigin: number;
  longTasks: LongTaskEntry[];
  longFrames: LongFrameEntry[];
  trainTime: string;
  tensors: { numTensors: number; numBytes: number };
  /** Local models the page's test hook keeps (`window.__petfl.submitted`, a Float32Array each). */
  submittedModels: number;
}

/** A 'longtask' entry: ms since the page's navigation start. */
interface LongTaskEntry {
  readonly start: number;
  readonly duration: number;
}

/** A 'long-animation-frame' entry and its longest scripts (which function, invoked how). */
interface LongFrameEntry {
  readonly start: number;
  readonly duration: number;
  readonly scripts: {
    readonly invoker: string;
    readonly fn: string;
    readonly url: string;
    readonly duration: number;
  }[];
}

declare global {
  interface Window {
    __benchLongTasks?: LongTaskEntry[];
    __benchLongFrames?: LongFrameEntry[];
  }
}

/**
 * Before the page loads: record every main-thread long task (over 50 ms) and long animation
 * frame of the page from its start (the observers keep no more than these arrays).
 */
function longTaskObservers(): void {
  const tasks: LongTaskEntry[] = [];
  const frames: LongFrameEntry[] = [];
  window.__benchLongTasks = tasks;
  window.__benchLongFrames = frames;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) tasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: 'longtask', buffered: true });
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const scripts = ((e as unknown as { scripts?: PerformanceEntry[] }).scripts ?? []).map((x) => {
          const script = x as unknown as { invoker: string; sourceFunctionName: string; sourceURL: string };
          return {
            invoker: script.invoker,
            fn: script.sourceFunctionName,
            url: script.sourceURL.replace(/^.*\//, ''),
            duration: x.duration,
          };
        });
        frames.push({ start: e.startTime, duration: e.duration, scripts });
      }
    }).observe({ type: 'long-animation-frame', buffered: true });
  } catch {
    // no Long Animation Frames API in this browser: the long tasks stand alone
  }
}

async function observeLongTasks(context: BrowserContext): Promise<void> {
  await context.addInitScript(longTaskObservers);
}

/**
 * A tab's heaps: the page's main thread, the SDK's Worker (in Worker mode), the page's
 * training Worker (TensorFlow.js, apps/web/src/participant/training-worker.ts) and its scoring
 * Worker (apps/web/src/participant/scoring-worker.ts).
 */
interface HeapSample {
  /** Runtime.getHeapUsage: the JS heap in use, and ArrayBuffer backing stores (wasm memory too). */
  readonly pageUsed: number;
  readonly pageBackingStore: number;
  readonly workerUsed: number | null;
  readonly workerBackingStore: number | null;
  readonly trainingUsed: number | null;
  readonly trainingBackingStore: number | null;
  readonly scoringUsed: number | null;
  readonly scoringBackingStore: number | null;
}

type WorkerRole = 'sdk' | 'training' | 'scoring';

/**
 * The DevTools protocol on a tab's page, and on its Workers through the page's session
 * (auto-attach, the Workers' messages wrapped: Target.sendMessageToTarget), for heap usage. A
 * Worker is told by its name (`petfl-training`, `petfl-scoring`; the SDK's otherwise).
 */
class HeapProbe {
  readonly #cdp: CdpSession;
  readonly #workers = new Map<WorkerRole, string>();
  #next = 1;
  readonly #pending = new Map<number, (result: unknown) => void>();

  private constructor(cdp: CdpSession) {
    this.#cdp = cdp;
    cdp.on('Target.attachedToTarget', (params) => {
      const event = params as { sessionId: string; targetInfo: { type: string; title: string; url: string } };
      if (event.targetInfo.type !== 'worker') return;
      const { title, url } = event.targetInfo;
      const role = (name: string) => title.includes(`petfl-${name}`) || url.includes(`${name}-worker`);
      this.#workers.set(role('training') ? 'training' : role('scoring') ? 'scoring' : 'sdk', event.sessionId);
    });
    cdp.on('Target.receivedMessageFromTarget', (params) => {
      const event = params as { message: string };
      const message = JSON.parse(event.message) as { id?: number; result?: unknown };
      if (message.id === undefined) return;
      this.#pending.get(message.id)?.(message.result ?? null);
      this.#pending.delete(message.id);
    });
  }

  /** On a page's DevTools session (Playwright's, or a bare browser's). */
  static async attach(cdp: CdpSession): Promise<HeapProbe> {
    const probe = new HeapProbe(cdp);
    await cdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });
    return probe;
  }

  /** Starts the DevTools CPU profiler on the page's main thread and in the SDK's Worker (1 ms samples). */
  async startProfile(): Promise<void> {
    await this.#cdp.send('Profiler.enable');
    await this.#cdp.send('Profiler.setSamplingInterval', { interval: 1000 });
    await this.#cdp.send('Profiler.start');
    await this.#workerCall('sdk', 'Profiler.enable');
    await this.#workerCall('sdk', 'Profiler.setSamplingInterval', { interval: 1000 });
    await this.#workerCall('sdk', 'Profiler.start');
  }

  /** Stops the profilers; the profiles, each as a `.cpuprofile` file's JSON (the Worker's null if it had none). */
  async stopProfile(): Promise<{ page: string; sdkWorker: string | null }> {
    const { profile } = (await this.#cdp.send('Profiler.stop')) as { profile: unknown };
    const worker = (await this.#workerCall('sdk', 'Profiler.stop', {}, 60_000)) as { profile?: unknown } | null;
    return {
      page: JSON.stringify(profile),
      sdkWorker: worker?.profile === undefined ? null : JSON.stringify(worker.profile),
    };
  }

  async sample(): Promise<HeapSample> {
    const page = (await this.#cdp.send('Runtime.getHeapUsage')) as { usedSize: number; backingStorageSize?: number };
    const worker = await this.#workerHeap('sdk');
    const training = await this.#workerHeap('training');
    const scoring = await this.#workerHeap('scoring');
    return {
      pageUsed: page.usedSize,
      pageBackingStore: (page as { backingStorageSize?: number }).backingStorageSize ?? 0,
      workerUsed: worker?.usedSize ?? null,
      workerBackingStore: worker?.backingStorageSize ?? null,
      trainingUsed: training?.usedSize ?? null,
      trainingBackingStore: training?.backingStorageSize ?? null,
      scoringUsed: scoring?.usedSize ?? null,
      scoringBackingStore: scoring?.backingStorageSize ?? null,
    };
  }

  #workerHeap(role: WorkerRole): Promise<{ usedSize: number; backingStorageSize?: number } | null> {
    return this.#workerCall(role, 'Runtime.getHeapUsage') as Promise<{
      usedSize: number;
      backingStorageSize?: number;
    } | null>;
  }

  /** A DevTools call on one of the tab's Workers; null when it has none or does not answer in 5 s. */
  async #workerCall(role: WorkerRole, method: string, params: object = {}, waitMs = 5_000): Promise<unknown> {
    const sessionId = this.#workers.get(role);
    if (sessionId === undefined) return null;
    const id = this.#next++;
    const result = new Promise<unknown>((resolve) => {
      this.#pending.set(id, resolve);
      setTimeout(() => resolve(null), waitMs).unref();
    });
    await this.#cdp
      .send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params }) })
      .catch(() => this.#pending.get(id)?.(null));
    return result;
  }
}

function stats(values: readonly number[]) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    n: sorted.length,
    median: round(at(0.5)),
    mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
    min: round(sorted[0] as number),
    p90: round(at(0.9)),
    max: round(sorted[sorted.length - 1] as number),
  };
}

/** A tab as the bench uses it, however the browser is driven. */
interface BenchTab {
  readonly name: string;
  /** Uncaught exceptions and console errors of the page (Playwright: but the coordinator's 4xx refusals). */
  readonly problems: readonly string[];
  /** `fn` (self-contained: its source is sent) called in the page; its value, JSON-cloned. */
  evaluate<T>(fn: () => T): Promise<T>;
  /** The page's DevTools session, for HeapProbe. */
  devtools(): Promise<CdpSession>;
  close(): Promise<void>;
}

/** How the bench drives Chromium: through Playwright (as the e2e suite), or bare (bare-chromium.ts). */
interface Driver {
  readonly name: 'playwright' | 'bare';
  readonly version: string;
  openTab(url: string, name: string): Promise<BenchTab>;
  close(): Promise<void>;
}

async function playwrightDriver(): Promise<Driver> {
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS] });
  return {
    name: 'playwright',
    version: browser.version(),
    async openTab(url, name) {
      const tab = await Tab.open(browser, url, name, (context) => observeLongTasks(context));
      return {
        name,
        problems: tab.problems,
        evaluate: (fn) => tab.page.evaluate(fn),
        async devtools() {
          const cdp = await tab.context.newCDPSession(tab.page);
          return {
            send: (method, params) => cdp.send(method as 'Runtime.getHeapUsage', params as never) as never,
            on: (event, handler) => cdp.on(event as 'Target.attachedToTarget', handler as never),
          };
        },
        close: () => tab.context.close().catch(() => {}),
      };
    },
    close: () => browser.close(),
  };
}

async function bareDriver(): Promise<Driver> {
  const browser = BareChromium.launch();
  const { product } = (await browser.browser.send('Browser.getVersion')) as { product: string };
  return {
    name: 'bare',
    version: product,
    async openTab(url, name) {
      const { targetId, session } = await browser.openPage(url, `(${longTaskObservers.toString()})()`);
      const problems: string[] = [];
      session.on('Runtime.exceptionThrown', (params) => {
        const details = params['exceptionDetails'] as { text?: string; exception?: { description?: string } };
        problems.push(`pageerror: ${details.exception?.description ?? details.text ?? 'an exception'}`);
      });
      session.on('Runtime.consoleAPICalled', (params) => {
        if (params['type'] !== 'error') return;
        const args = (params['args'] as { value?: unknown; description?: string }[]).map(
          (a) => a.description ?? String(a.value),
        );
        problems.push(`console: ${args.join(' ')}`);
      });
      const evaluate = async <T>(fn: () => T): Promise<T> => {
        const answer = (await session.send('Runtime.evaluate', {
          expression: `(${fn.toString()})()`,
          returnByValue: true,
          awaitPromise: true,
        })) as { result: { value?: T }; exceptionDetails?: { text: string; exception?: { description?: string } } };
        if (answer.exceptionDetails !== undefined) {
          throw new Error(`${name}: ${answer.exceptionDetails.exception?.description ?? answer.exceptionDetails.text}`);
        }
        return answer.result.value as T;
      };
      // As Tab.waitReady: a backstop for a page that never joins.
      const deadline = Date.now() + 180_000;
      while (!(await evaluate(() => document.querySelector('[data-testid="ready"]') !== null).catch(() => false))) {
        if (Date.now() > deadline) throw new Error(`${name}: not joined in 180 s (${problems.join('; ')})`);
        // Pacing this readiness poll only.
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      return {
        name,
        problems,
        evaluate,
        devtools: async () => session,
        close: () => browser.closePage(targetId),
      };
    },
    close: () => browser.close(),
  };
}

async function openTabs(driver: Driver, url: (shard: number) => string): Promise<BenchTab[]> {
  const tabs: BenchTab[] = [];
  for (let shard = 0; shard < TABS; shard += 2) {
    const shards = [shard, shard + 1].filter((s) => s < TABS);
    tabs.push(...(await Promise.all(shards.map((s) => driver.openTab(url(s), `tab-${s}`)))));
  }
  return tabs;
}

function pageRecord(tab: BenchTab): Promise<PageRecord> {
  return tab.evaluate(() => {
    const hook = window.__petfl;
    if (hook === undefined) throw new Error('the page has not joined');
    return {
      timings: { ...hook.timings },
      uploads: hook.uploads.map((u) => ({ ...u })),
      steps: (hook.steps ?? []).map((s) => ({ ...s })),
      backend: hook.backend,
      timeOrigin: performance.timeOrigin,
      longTasks: [...(window.__benchLongTasks ?? [])],
      longFrames: [...(window.__benchLongFrames ?? [])],
      trainTime: document.querySelector('[data-testid="train-time"]')?.textContent ?? '',
      tensors: hook.memory(),
      submittedModels: hook.submitted.length,
    };
  });
}

const MIB = 1024 * 1024;
const mib = (bytes: number) => Math.round((bytes / MIB) * 10) / 10;

/** The longest tasks of the pages within [from, to] (wall-clock ms), and which scripts the long frames ran. */
function longTaskReport(records: readonly PageRecord[], from: number, to: number) {
  const inWindow = <T extends { start: number }>(r: PageRecord, entries: readonly T[]) =>
    entries.filter((e) => r.timeOrigin + e.start >= from && r.timeOrigin + e.start <= to);
  const tasks = records.flatMap((r) => inWindow(r, r.longTasks));
  const frames = records.flatMap((r) => inWindow(r, r.longFrames));
  const seconds = Math.max(1, (to - from) / 1000);
  const byScript = new Map<string, { count: number; totalMs: number; maxMs: number }>();
  for (const script of frames.flatMap((f) => f.scripts)) {
    const key = `${script.invoker} → ${script.fn || '(anonymous)'} @ ${script.url}`;
    const entry = byScript.get(key) ?? { count: 0, totalMs: 0, maxMs: 0 };
    entry.count++;
    entry.totalMs += script.duration;
    entry.maxMs = Math.max(entry.maxMs, script.duration);
    byScript.set(key, entry);
  }
  return {
    what: "main-thread tasks over 50 ms (PerformanceObserver 'longtask') that started during the counted rounds, all 6 tabs",
    longestMs: tasks.length === 0 ? 0 : Math.round(Math.max(...tasks.map((t) => t.duration))),
    perTabLongestMs: records.map((r) => {
      const own = inWindow(r, r.longTasks);
      return own.length === 0 ? 0 : Math.round(Math.max(...own.map((t) => t.duration)));
    }),
    durationMs: stats(tasks.map((t) => t.duration)),
    perTabPerSecond: Math.round((tasks.length / records.length / seconds) * 100) / 100,
    busyShare: Math.round((tasks.reduce((a, t) => a + t.duration, 0) / records.length / (to - from)) * 1000) / 1000,
    longFrameScripts: {
      what: "the scripts of the long animation frames ('long-animation-frame' entries) in the same window, by invoker → function @ file (minified names), the top 8 by total time",
      top: [...byScript.entries()]
        .sort((a, b) => b[1].totalMs - a[1].totalMs)
        .slice(0, 8)
        .map(([script, e]) => ({ script, count: e.count, totalMs: Math.round(e.totalMs), maxMs: Math.round(e.maxMs) })),
    },
  };
}

/**
 * Where a round's time went on the tabs' side (the pages' snapshot records, in wall-clock ms
 * from the round's start): per completed round, when the update participants saw the update
 * phase, started sending (their model trained and, secure, masked) and were done sending
 * (the page's snapshot after the last chunk); for the sum participants, when they sent the sum
 * message, saw sum2 and were done sending it.
 */
function tabSideTimings(records: readonly PageRecord[], rounds: readonly RoundTiming[]) {
  const at = (values: number[]) => stats(values);
  const collect = {
    updateSeen: [] as number[],
    updateSending: [] as number[],
    updateSent: [] as number[],
    thirdUpdateSent: [] as number[],
    sumSent: [] as number[],
    sum2Seen: [] as number[],
    sum2Sent: [] as number[],
  };
  for (const round of rounds) {
    const sentUpdates: number[] = [];
    for (const r of records) {
      const wall = (ms: number) => r.timeOrigin + ms - round.startedAt;
      const steps = r.steps.filter((s) => s.roundId === round.roundId);
      const uploads = r.uploads.filter((u) => u.roundId === round.roundId && u.atMs !== undefined);
      const first = (pred: (s: PhaseStep) => boolean) => steps.find(pred)?.atMs;
      const task = steps.find((s) => s.task !== 'none')?.task;
      if (task === 'update') {
        const seen = first((s) => s.phase === 'update');
        const sending = first((s) => s.phase === 'sending');
        const sent = uploads.filter((u) => u.task === 'update').at(-1)?.atMs;
        if (seen !== undefined) collect.updateSeen.push(wall(seen));
        if (sending !== undefined) collect.updateSending.push(wall(sending));
        if (sent !== undefined) {
          collect.updateSent.push(wall(sent));
          sentUpdates.push(wall(sent));
        }
      } else if (task === 'sum') {
        const sum = uploads.find((u) => u.task === 'sum' && u.seq === 0)?.atMs;
        const sum2Seen = first((s) => s.phase === 'sum2');
        const sum2 = uploads.filter((u) => u.task === 'sum' && u.seq > 0).at(-1)?.atMs;
        if (sum !== undefined) collect.sumSent.push(wall(sum));
        if (sum2Seen !== undefined) collect.sum2Seen.push(wall(sum2Seen));
        if (sum2 !== undefined) collect.sum2Sent.push(wall(sum2));
      }
    }
    const third = sentUpdates.sort((a, b) => a - b)[2];
    if (third !== undefined) collect.thirdUpdateSent.push(third);
  }
  return {
    what: "ms from the round's start (the server's record) to each tab's milestone in that round (the page's snapshots, apps/web/test-hooks/records.ts); completed rounds only, every participant that had the task",
    updateTaskSeen: at(collect.updateSeen),
    updateSendingStarted: at(collect.updateSending),
    updateSent: at(collect.updateSent),
    thirdUpdateSent: at(collect.thirdUpdateSent),
    sumSent: at(collect.sumSent),
    sum2Seen: at(collect.sum2Seen),
    sum2Sent: at(collect.sum2Sent),
  };
}

/** Until `rounds` rounds that started after every tab joined have completed. */
async function awaitRounds(
  history: () => Promise<readonly RoundTiming[]>,
  joinedAt: number,
  rounds: number,
  timeoutMs: number,
): Promise<RoundTiming[]> {
  const deadline = Date.now() + timeoutMs;
  let seen = 0;
  for (;;) {
    const counted = (await history()).filter((r) => r.startedAt >= joinedAt);
    const completed = counted.filter((r) => r.outcome === 'completed');
    for (const r of counted.slice(seen)) log(`  round ${r.roundId} ${r.outcome} in ${r.endedAt - r.startedAt} ms`);
    seen = counted.length;
    if (completed.length >= rounds) {
      const last = completed[rounds - 1] as RoundTiming;
      return counted.filter((r) => r.roundId <= last.roundId);
    }
    if (Date.now() > deadline) throw new Error(`${completed.length}/${rounds} rounds completed in ${timeoutMs} ms`);
    // Pacing this progress poll only: the rounds' own timings come from the servers' records.
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function runMode(
  mode: 'secure' | 'plain',
  driver: Driver,
  origin: string,
  model: WebModel,
  rounds: number,
  chunkKib: number | undefined,
  /** Which of several blocks (`--blocks`) this is, for the names of the files it writes; none when one. */
  block: number | undefined,
) {
  const modelLength = webModelLength(model);
  // The name of what this run writes (E2E_CPU_PROF, E2E_RECORDS): `<model>-<mode>[-block-<n>]`.
  const fileStem = `${model}-${mode}${block === undefined ? '' : `-block-${block}`}`;
  const profileDir = process.env['E2E_CPU_PROF'];
  const profile = profileDir === undefined ? {} : { cpuProfileDir: profileDir, profileName: `${fileStem}-server` };
  const secure =
    mode === 'secure'
      ? await startSecureCoordinator({ ...securePhases(model), modelLength, store: 'memory' }, profile)
      : undefined;
  const plain = mode === 'plain' ? await startPlainServer(modelLength, updatePhase(model), profile) : undefined;
  const server = (secure ?? plain) as BenchServer<RoundTiming>;
  const url = server.url;
  const history = () => server.history();
  const tabs = await openTabs(driver, (shard) =>
    participantUrl(origin, url, {
      shard,
      shards: SHARDS[model],
      mode: mode === 'plain' ? 'plain' : 'worker',
      model,
      backends: BACKENDS[model],
      // The test hook's copies of each local model (in memory, in sessionStorage) are test-only
      // main-thread work: it keeps none here (the bench counts them only).
      hookStorage: 'none',
      ...(mode === 'secure' && chunkKib !== undefined ? { chunkKib } : {}),
    }),
  );
  try {
    // The page's model must be the coordinator's (web-model.ts mirrors the page's MODELS).
    for (const tab of tabs) {
      const shown = await tab.evaluate(() => document.querySelector('[data-testid="model"]')?.textContent ?? '');
      const weights = Number(/([\d,]+) weights/.exec(shown)?.[1]?.replaceAll(',', ''));
      if (weights !== modelLength)
        throw new Error(`${tab.name}: the page's model has ${weights} weights, not ${modelLength}`);
    }
    const probes = await Promise.all(tabs.map(async (t) => HeapProbe.attach(await t.devtools())));
    if (profileDir) await Promise.all(probes.map((p) => p.startProfile()));
    const joinedAt = Date.now();
    const cpuSamples: { at: number; cpu: CpuReading }[] = [{ at: Date.now(), cpu: cpuNow(server.pid) }];
    log(`${model} ${mode}: ${TABS} tabs joined; waiting for ${rounds} completed rounds`);
    const heaps: HeapSample[][] = [];
    let sampling = true;
    const cpuSampler = (async () => {
      while (sampling) {
        // Pacing the CPU readings only (/proc, this process's own reads).
        await new Promise((resolve) => setTimeout(resolve, CPU_SAMPLE_MS));
        cpuSamples.push({ at: Date.now(), cpu: cpuNow(server.pid) });
      }
    })();
    const sampler = (async () => {
      while (sampling) {
        // A sample a closing or busy page cannot answer is skipped.
        const sample = await Promise.all(probes.map((p) => p.sample())).catch(() => null);
        if (sample !== null) heaps.push(sample);
        // Pacing the heap samples only (a few CDP calls a second in all).
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    })();
    const counted = await awaitRounds(history, joinedAt, rounds, ROUNDS_TIMEOUT_MS[model]).finally(() => {
      sampling = false;
    });
    await Promise.all([sampler, cpuSampler]);
    cpuSamples.push({ at: Date.now(), cpu: cpuNow(server.pid) });
    const cpuS = cpuDelta(cpuSamples[0]?.cpu ?? NO_CPU, cpuSamples.at(-1)?.cpu ?? NO_CPU);
    if (profileDir) {
      mkdirSync(profileDir, { recursive: true });
      const profiles = await Promise.all(probes.map((p) => p.stopProfile()));
      profiles.forEach(({ page, sdkWorker }, i) => {
        writeFileSync(join(profileDir, `${fileStem}-${tabs[i]?.name}.cpuprofile`), page);
        if (sdkWorker !== null) {
          writeFileSync(join(profileDir, `${fileStem}-${tabs[i]?.name}-sdk-worker.cpuprofile`), sdkWorker);
        }
      });
    }
    const records = await Promise.all(tabs.map(pageRecord));
    const recordsDir = process.env['E2E_RECORDS'];
    if (recordsDir) {
      // The raw material of tabSide below: every tab's steps and uploads, and the server's rounds.
      mkdirSync(recordsDir, { recursive: true });
      const rounds = await history();
      const raw = records.map((r, i) => ({
        tab: tabs[i]?.name,
        timeOrigin: r.timeOrigin,
        steps: r.steps,
        uploads: r.uploads,
      }));
      writeFileSync(join(recordsDir, `${fileStem}.json`), `${JSON.stringify({ rounds, counted, tabs: raw })}\n`);
    }
    const countedIds = new Set(counted.map((r) => r.roundId));
    const completed = counted.filter((r) => r.outcome === 'completed');
    const uploads = records.flatMap((r) => r.uploads.filter((u) => countedIds.has(u.roundId)));
    // Which message a request was (records.ts): a sum task sends its sum message first, then sum2.
    const kindOf = (u: { task: string; seq: number }) => (u.task === 'sum' ? (u.seq === 0 ? 'sum' : 'sum2') : u.task);
    // A message, whole: its requests summed per tab, round and kind (a large one goes in chunks).
    const messages = records.flatMap((r) => {
      const sums = new Map<string, { kind: string; bytes: number }>();
      for (const u of r.uploads.filter((x) => countedIds.has(x.roundId))) {
        const key = `${u.roundId}/${kindOf(u)}`;
        const entry = sums.get(key) ?? { kind: kindOf(u), bytes: 0 };
        entry.bytes += u.bytes;
        sums.set(key, entry);
      }
      return [...sums.values()];
    });
    const byKind = (kind: string) => stats(messages.filter((m) => m.kind === kind).map((m) => m.bytes));
    const totalBytes = uploads.reduce((a, u) => a + u.bytes, 0);
    const problems = tabs.flatMap((t) => t.problems.map((p) => `${t.name}: ${p}`));
    const secureRounds = secure === undefined ? [] : (await secure.history()).filter((r) => countedIds.has(r.roundId));
    const plainRounds = plain === undefined ? [] : (await plain.history()).filter((r) => countedIds.has(r.roundId));
    const from = Math.min(...counted.map((r) => r.startedAt));
    const to = Math.max(...counted.map((r) => r.endedAt));
    const heap = (pick: (h: HeapSample) => number | null) => {
      const values = heaps.flatMap((sample) => sample.flatMap((h) => (pick(h) === null ? [] : [pick(h) as number])));
      return values.length === 0
        ? null
        : { peakMiB: mib(Math.max(...values)), medianMiB: mib(stats(values)?.median ?? 0) };
    };
    const phase = (name: 'sum' | 'update' | 'sum2' | 'unmask') =>
      stats(
        secureRounds
          .filter((r) => r.outcome === 'completed')
          .map((r) => r.phaseDurationsMs[name])
          .filter((x) => x !== undefined),
      );
    const perRound = completed.map((round) => ({
      roundId: round.roundId,
      latencyMs: round.endedAt - round.startedAt,
      updateTasks: records.filter((r) => r.steps.some((x) => x.roundId === round.roundId && x.task === 'update'))
        .length,
    }));
    return {
      backends: [...new Set(records.map((r) => r.backend))],
      roundLatencyMs: stats(perRound.map((r) => r.latencyMs)),
      roundLatencySpreadMs: spread(perRound.map((r) => r.latencyMs)),
      roundLatencyByUpdateTasks: byUpdateTasks(perRound),
      perRound,
      roundsCompleted: completed.length,
      roundsFailed: counted.length - completed.length,
      failureReasons: [
        ...new Set([
          ...secureRounds.flatMap((r) => (r.failureReason === undefined ? [] : [r.failureReason])),
          ...plainRounds.flatMap((r) => (r.failureReason === undefined ? [] : [r.failureReason])),
        ]),
      ],
      ...(secure === undefined
        ? {}
        : {
            phaseDurationsMs: {
              sum: phase('sum'),
              update: phase('update'),
              sum2: phase('sum2'),
              unmask: phase('unmask'),
            },
            participantsPerRound: {
              sum: stats(secureRounds.filter((r) => r.outcome === 'completed').map((r) => r.participants.sum)),
              update: stats(secureRounds.filter((r) => r.outcome === 'completed').map((r) => r.participants.update)),
            },
          }),
      cpu: cpuReport(cpuS, cpuInRounds(cpuSamples, completed), completed.length),
      uploadBytes: {
        what: 'request body bytes the tabs sent over the counted rounds (apps/web/test-hooks/records.ts), per participant per completed round (bytes sent in failed rounds count too) and per message sent (accepted or refused: one sent after its phase closed counts too; a chunked message counted whole, its requests summed per tab and round)',
        perParticipantPerCompletedRound: Math.round(totalBytes / (TABS * Math.max(1, completed.length))),
        perMessage: { sum: byKind('sum'), update: byKind('update'), sum2: byKind('sum2') },
      },
      pageLoadMs: {
        what: 'ms from navigation start, per tab (tabs open two at a time)',
        joined: stats(records.flatMap((r) => (r.timings.joinedMs === null ? [] : [r.timings.joinedMs]))),
        firstRound: stats(records.flatMap((r) => (r.timings.firstRoundMs === null ? [] : [r.timings.firstRoundMs]))),
        firstTask: stats(records.flatMap((r) => (r.timings.firstTaskMs === null ? [] : [r.timings.firstTaskMs]))),
        firstSent: stats(records.flatMap((r) => (r.timings.firstSentMs === null ? [] : [r.timings.firstSentMs]))),
      },
      tabSide: tabSideTimings(records, completed),
      trainTime: {
        what: "each tab's last epoch as its page shows it (data-testid train-time)",
        tabs: records.map((r) => r.trainTime),
      },
      longTasks: longTaskReport(records, from, to),
      memory: {
        what: "per tab, sampled about once a second through the rounds (DevTools Runtime.getHeapUsage on the page, on the SDK's Worker, on the training Worker and on the scoring Worker): JS heap in use, and ArrayBuffer backing stores (the wasm backend's memory, in the training Worker, among them); peak and median over all samples of all 6 tabs, MiB",
        samples: heaps.length,
        pageHeap: heap((h) => h.pageUsed),
        pageBackingStores: heap((h) => h.pageBackingStore),
        workerHeap: heap((h) => h.workerUsed),
        workerBackingStores: heap((h) => h.workerBackingStore),
        trainingWorkerHeap: heap((h) => h.trainingUsed),
        trainingWorkerBackingStores: heap((h) => h.trainingBackingStore),
        scoringWorkerHeap: heap((h) => h.scoringUsed),
        scoringWorkerBackingStores: heap((h) => h.scoringBackingStore),
        tfjsTensorsAtEndMiB: stats(records.map((r) => mib(r.tensors.numBytes))),
        testHookModelsAtEnd: {
          what: "local models the page's test hook recorded by the end (window.__petfl.submitted): their rounds and scalars only, no copy of the model (hookStorage=none)",
          perTab: records.map((r) => r.submittedModels),
        },
      },
      problems,
    };
  } finally {
    // The contexts directly, not Tab.close(): that reads every local model a page recorded
    // (Tab.collect), millions of numbers a tab for the wide model, which the bench does not use.
    await Promise.all(tabs.map((t) => t.close()));
    await secure?.close();
    await plain?.close();
  }
}

/** The rounds a model's run may take at most (a backstop: rounds of the wide model take seconds each). */
const ROUNDS_TIMEOUT_MS: Record<WebModel, number> = { demo: 240_000, wide: 900_000 };
/** wasm only for the wide model: the cpu backend's timed training step of 1M weights costs seconds a tab. */
const BACKENDS: Record<WebModel, string> = { demo: DEFAULT_BACKENDS, wide: 'wasm' };

/** Median and the spread around it: interquartile range and min–max. */
function spread(values: readonly number[]) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return { p25: at(0.25), median: at(0.5), p75: at(0.75), iqr: at(0.75) - at(0.25), range: at(1) - at(0) };
}

interface RoundOfMode {
  readonly roundId: number;
  readonly latencyMs: number;
  /** Tabs that had the update task in the round (in plain mode: the tabs that took the round up). */
  readonly updateTasks: number;
}

/**
 * Round latency by how many tabs had the update task: on 2 shared cores it sets how many tabs
 * mask and upload at once, and a secure round draws it (the others sum or sit out), while every
 * plain tab updates.
 */
function byUpdateTasks(rounds: readonly RoundOfMode[]) {
  const counts = [...new Set(rounds.map((r) => r.updateTasks))].sort((a, b) => a - b);
  return Object.fromEntries(
    counts.map((n) => [n, stats(rounds.filter((r) => r.updateTasks === n).map((r) => r.latencyMs))]),
  );
}

/**
 * CPU seconds so far (proc-stats.ts): the server's process; the browser's processes by kind
 * (Chromium's `--type=`: `renderer` — the tabs' pages and their Workers —, `network` — the network
 * service, which carries every upload —, `storage` — the storage service —, `gpu-process`, other
 * `utility` processes, `zygote`, and `browser`, the processes without a type); this process; the machine's busy time.
 */
interface CpuReading {
  readonly server: number;
  readonly browser: Readonly<Record<string, number>>;
  readonly bench: number;
  readonly machine: number;
}

/**
 * What kind of Chromium process a command line starts. Chromium rewrites its children's command
 * lines into one string (its setproctitle), so the flags are searched for, not taken as arguments.
 */
function chromiumKind(argv: readonly string[]): string {
  const line = argv.join(' ');
  const type = /--type=(\S+)/.exec(line)?.[1];
  if (type === undefined) return 'browser';
  if (type === 'utility' && line.includes('network.mojom.NetworkService')) return 'network';
  if (type === 'utility' && line.includes('storage.mojom.StorageService')) return 'storage';
  return type;
}

/** The readings now; the browser is every child process of this one but the server, with its descendants. */
function cpuNow(serverPid: number): CpuReading {
  const { user, system } = process.cpuUsage();
  const browser: Record<string, number> = {};
  for (const child of childPids(process.pid).filter((pid) => pid !== serverPid)) {
    for (const p of processTree(child)) {
      const kind = chromiumKind(p.argv);
      browser[kind] = (browser[kind] ?? 0) + p.cpuSeconds;
    }
  }
  return { server: cpuSeconds(serverPid), browser, bench: (user + system) / 1e6, machine: machineCpu().busy };
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** `reading` scaled by `factor` (rounded to ms), its browser total under `browser.all`. */
function scaled(reading: CpuReading, factor: number): CpuReading {
  const browser = Object.fromEntries(Object.entries(reading.browser).map(([k, v]) => [k, r3(v * factor)]));
  const all = Object.entries(reading.browser).reduce((a, [k, v]) => a + (k === 'all' ? 0 : v), 0);
  return {
    server: r3(reading.server * factor),
    browser: { ...browser, all: r3(all * factor) },
    bench: r3(reading.bench * factor),
    machine: r3(reading.machine * factor),
  };
}

/** `to` − `from`, plus `into` when given (a sum of differences). */
function cpuDelta(from: CpuReading, to: CpuReading, into?: CpuReading): CpuReading {
  const browser: Record<string, number> = { ...(into?.browser ?? {}) };
  for (const k of new Set([...Object.keys(from.browser), ...Object.keys(to.browser)])) {
    if (k === 'all') continue;
    browser[k] = (browser[k] ?? 0) + (to.browser[k] ?? 0) - (from.browser[k] ?? 0);
  }
  return {
    server: (into?.server ?? 0) + to.server - from.server,
    browser,
    bench: (into?.bench ?? 0) + to.bench - from.bench,
    machine: (into?.machine ?? 0) + to.machine - from.machine,
  };
}

const NO_CPU: CpuReading = { server: 0, browser: {}, bench: 0, machine: 0 };

/**
 * The CPU spent inside the given rounds (wall-clock intervals), from readings taken every
 * CPU_SAMPLE_MS: each round from the last reading at or before its start to the first at or after
 * its end (so each is overcounted by up to two sampling intervals).
 */
function cpuInRounds(
  samples: readonly { at: number; cpu: CpuReading }[],
  rounds: readonly RoundTiming[],
): { cpu: CpuReading; seconds: number } {
  let cpu = NO_CPU;
  let seconds = 0;
  for (const r of rounds) {
    const from = samples.filter((s) => s.at <= r.startedAt).at(-1);
    const to = samples.find((s) => s.at >= r.endedAt);
    if (from === undefined || to === undefined) continue;
    cpu = cpuDelta(from.cpu, to.cpu, cpu);
    seconds += (to.at - from.at) / 1000;
  }
  return { cpu, seconds };
}

/** A mode's CPU: inside its completed rounds (per round, and as cores busy), and over its whole window. */
function cpuReport(window: CpuReading, inRounds: { cpu: CpuReading; seconds: number }, completed: number) {
  return {
    what: "CPU seconds: the server's process; the browser's processes by kind (renderer: the tabs' pages, SDK Workers and training Workers; network: Chromium's network service, which carries the uploads; storage: its storage service; browser, gpu-process, utility, zygote; all: their sum); this bench's process, which drives the browser; the whole machine's busy time (those, the kernel's network processing and anything else running). perCompletedRoundS and coresBusy: inside the completed rounds only (from readings every 100 ms); window: from the tabs' joining to the end of the last counted round, failed rounds and the gaps between rounds included",
    perCompletedRoundS: scaled(inRounds.cpu, 1 / Math.max(1, completed)),
    coresBusy: scaled(inRounds.cpu, 1 / Math.max(1e-9, inRounds.seconds)),
    inCompletedRounds: { seconds: r3(inRounds.seconds), cpuS: scaled(inRounds.cpu, 1) },
    windowS: scaled(window, 1),
  };
}

/** How often the CPU readings are taken during a mode's rounds (a few /proc reads each). */
const CPU_SAMPLE_MS = 100;

type ModeReport = Awaited<ReturnType<typeof runMode>>;

/**
 * One mode's blocks (`--blocks`) as one report: the rounds of every block pooled, the messages'
 * sizes of the first (the same in every block), each block's own report under `blocks`.
 */
function pooled(blocks: readonly ModeReport[]) {
  const [first] = blocks;
  if (first === undefined) throw new Error('no blocks');
  if (blocks.length === 1) return first;
  const perRound = blocks.flatMap((b) => b.perRound);
  const latencies = perRound.map((r) => r.latencyMs);
  const sum = (pick: (b: ModeReport) => number) => blocks.reduce((a, b) => a + pick(b), 0);
  const roundsCompleted = sum((b) => b.roundsCompleted);
  return {
    what: `${blocks.length} blocks of this mode, each run right after a block of the other (--blocks); their completed rounds pooled`,
    roundLatencyMs: stats(latencies),
    roundLatencySpreadMs: spread(latencies),
    roundLatencyByUpdateTasks: byUpdateTasks(perRound),
    blockMedianLatencyMs: blocks.map((b) => b.roundLatencyMs?.median ?? null),
    roundsCompleted,
    roundsFailed: sum((b) => b.roundsFailed),
    cpu: cpuReport(
      blocks.reduce((a, b) => cpuDelta(NO_CPU, b.cpu.windowS, a), NO_CPU),
      {
        cpu: blocks.reduce((a, b) => cpuDelta(NO_CPU, b.cpu.inCompletedRounds.cpuS, a), NO_CPU),
        seconds: sum((b) => b.cpu.inCompletedRounds.seconds),
      },
      roundsCompleted,
    ),
    uploadBytes: {
      perMessage: first.uploadBytes.perMessage,
      perParticipantPerCompletedRound: Math.round(
        sum((b) => b.uploadBytes.perParticipantPerCompletedRound * b.roundsCompleted) /
          Math.max(
            1,
            sum((b) => b.roundsCompleted),
          ),
      ),
    },
    longTasks: { longestMs: Math.max(...blocks.map((b) => b.longTasks.longestMs)) },
    blocks,
  };
}

async function runModel(
  driver: Driver,
  origin: string,
  model: WebModel,
  rounds: number,
  blocks: number,
  chunkKib: number | undefined,
) {
  const modelLength = webModelLength(model);
  const loadAtStart = loadavg()[0] as number;
  // Alternating blocks, so that a machine whose speed drifts (a VM's neighbours) weighs on both modes.
  const perBlock = Math.ceil(rounds / blocks);
  const secureBlocks: ModeReport[] = [];
  const plainBlocks: ModeReport[] = [];
  let loadBetween = 0;
  for (let b = 0; b < blocks; b++) {
    if (blocks > 1) log(`${model}: block ${b + 1} of ${blocks}`);
    const block = blocks === 1 ? undefined : b + 1;
    secureBlocks.push(await runMode('secure', driver, origin, model, perBlock, chunkKib, block));
    if (b === 0) loadBetween = loadavg()[0] as number;
    plainBlocks.push(await runMode('plain', driver, origin, model, perBlock, undefined, block));
  }
  const secure = pooled(secureBlocks);
  const plain = pooled(plainBlocks);
  const rawModelBytes = modelLength * 4;
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? null : Math.round((a / b) * 100) / 100;
  const costOfPrivacy = {
    roundLatencyMedianRatio: ratio(secure.roundLatencyMs?.median, plain.roundLatencyMs?.median),
    roundLatencyMeanRatio: ratio(secure.roundLatencyMs?.mean, plain.roundLatencyMs?.mean),
    updateMessageToRawModel: ratio(secure.uploadBytes.perMessage.update?.median, rawModelBytes),
    sum2MessageToRawModel: ratio(secure.uploadBytes.perMessage.sum2?.median, rawModelBytes),
    machineCpuPerCompletedRoundRatio: ratio(
      secure.cpu.perCompletedRoundS.machine,
      plain.cpu.perCompletedRoundS.machine,
    ),
    uploadPerParticipantPerRoundRatio: ratio(
      secure.uploadBytes.perParticipantPerCompletedRound,
      plain.uploadBytes.perParticipantPerCompletedRound,
    ),
  };
  log(`${model}: ${JSON.stringify(costOfPrivacy)}`);
  log(
    `${model}: round latency median: secure ${secure.roundLatencyMs?.median} ms, plain ${plain.roundLatencyMs?.median} ms; ` +
      `update message ${secure.uploadBytes.perMessage.update?.median} B vs raw model ${rawModelBytes} B; ` +
      `longest main-thread task secure ${secure.longTasks.longestMs} ms, plain ${plain.longTasks.longestMs} ms; ` +
      `CPU-s per completed round secure ${JSON.stringify(secure.cpu.perCompletedRoundS)}, plain ${JSON.stringify(plain.cpu.perCompletedRoundS)}`,
  );
  return {
    model: {
      name: model,
      page: `model=${model}`,
      layers: webModelLayers(model).join('-'),
      weights: modelLength,
      training: `1 local epoch on the tab's shard (the pool of 9000 digits cut into ${SHARDS[model]} shards, the tabs on 0–5) per global model, batch 32 (the page's trainer)`,
      backends: BACKENDS[model],
    },
    phases: securePhases(model),
    loadAverage1m: { atStart: loadAtStart, betweenModes: loadBetween, atEnd: loadavg()[0] },
    rawModelBytes,
    secure,
    plain,
    costOfPrivacy,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '8' },
      models: { type: 'string', default: WEB_MODELS.join(',') },
      driver: { type: 'string', default: 'playwright' },
      'chunk-kib': { type: 'string' },
      blocks: { type: 'string', default: '1' },
    },
  });
  if (values.driver !== 'playwright' && values.driver !== 'bare')
    throw new Error(`--driver: expected playwright or bare, got ${values.driver}`);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new Error(`--rounds: expected an integer ≥ 1, got ${values.rounds}`);
  const blocks = Number(values.blocks);
  if (!Number.isInteger(blocks) || blocks < 1 || blocks > rounds)
    throw new Error(`--blocks: expected an integer in 1..rounds, got ${values.blocks}`);
  const chunkArg = values['chunk-kib'];
  const chunkKib = chunkArg === undefined ? undefined : Number(chunkArg);
  if (chunkKib !== undefined && !(Number.isInteger(chunkKib) && chunkKib >= 1 && chunkKib <= 15 * 1024))
    throw new Error(`--chunk-kib: expected an integer in 1..15360, got ${chunkArg}`);
  const models = values.models.split(',').map((m) => m.trim());
  const unknown = models.filter((m) => !WEB_MODELS.includes(m as WebModel));
  if (models.length === 0 || unknown.length > 0)
    throw new Error(`--models: expected a list of ${WEB_MODELS.join(', ')}, got ${values.models}`);
  const server = await serveStatic(webBuild());
  const driver = values.driver === 'bare' ? await bareDriver() : await playwrightDriver();
  const loadAtStart = loadavg()[0] as number;
  try {
    const dir = join(REPO_ROOT, 'bench/results');
    const file = driver.name === 'bare' ? 'e2e-bare.json' : 'e2e.json';
    // The models not run this time keep their earlier runs; each run says when it was measured.
    const runs: Record<string, unknown> = earlierRuns(join(dir, file));
    for (const model of models as WebModel[]) {
      runs[model] = {
        date: new Date().toISOString(),
        ...(await runModel(driver, server.origin, model, rounds, blocks, chunkKib)),
      };
    }
    const report = {
      date: new Date().toISOString(),
      machine: {
        node: process.version,
        chromium: driver.version,
        cpu: cpus()[0]?.model,
        cores: cpus().length,
        loadAverage1m: { atStart: loadAtStart, atEnd: loadavg()[0] },
      },
      settings: {
        driver:
          driver.name === 'bare'
            ? 'a bare Chromium driven over the DevTools protocol (e2e/support/bare-chromium.ts): no Network domain enabled'
            : 'Playwright (as the e2e suite): it enables the DevTools Network domain on every page and Worker',
        tabs: TABS,
        models: "runs.<model>.model: the participant page's `model=` (apps/web/src/params.ts)",
        mask: 'power2/f32/b4/m3 (the demo config)',
        servers:
          'each a process of its own, reached directly (e2e/support/bench-coordinators.ts): the built petfl-coordinator command, memory store; the plain server',
        secure: {
          sdk: 'Worker mode',
          phases: 'runs.<model>.phases',
          maxChunkData: chunkKib === undefined ? "the SDK's default" : chunkKib * 1024,
        },
        plain: {
          what: 'BENCHMARK ONLY plain averaging (e2e/support/plain-coordinator.ts)',
          update: 'runs.<model>.phases.update',
        },
        countedRounds: 'rounds that started after all 6 tabs had joined, up to the last of the completed ones timed',
        blocks:
          blocks === 1
            ? 'one block: all secure rounds, then all plain ones'
            : `${blocks} blocks of each mode, alternating secure, plain, secure, …, each of ceil(rounds / blocks) completed rounds with its tabs opened anew`,
      },
      runs,
    };
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, file), `${JSON.stringify(report, null, 2)}\n`);
    log(`wrote bench/results/${file}`);
  } finally {
    await driver.close();
    await server.close();
  }
}

/** The runs in an earlier results file, by model (none when there is no such file), each with its date. */
function earlierRuns(path: string): Record<string, unknown> {
  if (!existsSync(path)) return {};
  const earlier = JSON.parse(readFileSync(path, 'utf8')) as { date?: string; runs?: Record<string, object> };
  // A file from before runs were dated: its runs were all measured by its date.
  return Object.fromEntries(
    Object.entries(earlier.runs ?? {}).map(([model, run]) => [model, { date: earlier.date, ...run }]),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
