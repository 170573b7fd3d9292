/**
 * Helpers of `bench/scale.bench.ts`: a private Redis, several `petfl-coordinator` processes on it
 * (test-support/processes.ts) with haproxy in front (test-support/haproxy.ts), their operator API,
 * what each process costs (CPU seconds and peak RSS from /proc, Redis's from INFO), and watchers
 * that hold a `GET /phase` long poll on every instance to time how soon followers follow.
 */

import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { parseSettings, type Settings } from '../packages/coordinator/src/settings.ts';
import type { CoordinatorStatus } from '../packages/coordinator/src/state-machine/coordinator.ts';
import type { RoundSummary } from '../packages/coordinator/src/store/coordinator-store.ts';
import { redisStoreKeys } from '../packages/coordinator/src/store/redis/keys.ts';
import { type RunningHaproxy, startHaproxy } from '../packages/coordinator/test-support/haproxy.ts';
import {
  cpuTimes,
  machineCpu,
  mainThreadCpuSeconds,
  memoryMiB,
} from '../packages/coordinator/test-support/proc-stats.ts';
import {
  type Child,
  ChildProcesses,
  type CoordinatorProcess,
  freePort,
  startCoordinatorProcess,
  waitFor,
} from '../packages/coordinator/test-support/processes.ts';
import { keysMatching } from '../packages/coordinator/test-support/redis.ts';
import type { Fetch } from '../packages/coordinator/test-support/sim.ts';

export const REDIS_SERVER_BIN = process.env['REDIS_SERVER_BIN'] ?? '/usr/bin/redis-server';
/** An existing Redis to use instead of a private one (its figures then include others' traffic). */
export const EXTERNAL_REDIS_URL = process.env['SCALE_REDIS_URL'];
const CPU_PROF_DIR = process.env['SCALE_CPU_PROF'];
/** How long a phase may wait for its messages: far beyond the bench, so no phase ends by time. */
const PHASE_MAX_MS = 600_000;

/** The bench's reads (operator API, participants' GETs) that got no answer and were sent again (reported). */
export const adminRetries: string[] = [];

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- Redis INFO ------------------------------------------------------------------------

/** One section of Redis INFO as a record. */
export async function redisInfo(client: Redis, section: string): Promise<Record<string, string>> {
  const text = await client.info(section);
  const out: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const at = line.indexOf(':');
    if (at > 0 && !line.startsWith('#')) out[line.slice(0, at)] = line.slice(at + 1);
  }
  return out;
}

// ---- a private Redis -----------------------------------------------------------------------------

export interface BenchRedis {
  readonly url: string;
  /** The redis-server process, when this bench started it. */
  readonly child?: Child;
  readonly client: Redis;
  readonly version: string;
  readonly config: string;
}

/**
 * A redis-server of its own for one scenario (no persistence, as the shared one here runs), so
 * that INFO's byte counts, memory peak and CPU are this scenario's alone; or SCALE_REDIS_URL.
 */
export async function startRedis(group: ChildProcesses, dir: string): Promise<BenchRedis> {
  let url = EXTERNAL_REDIS_URL;
  let child: Child | undefined;
  let config = 'external (SCALE_REDIS_URL): its figures include any other client’s traffic';
  if (url === undefined) {
    const port = await freePort();
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
    child = group.spawn('redis', REDIS_SERVER_BIN, args);
    url = `redis://127.0.0.1:${port}`;
    config = `private ${REDIS_SERVER_BIN} ${args.map((a) => (a === '' ? '""' : a)).join(' ')}`;
  }
  const client = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  // Refused connections while redis-server starts are expected; the commands' own errors surface.
  client.on('error', () => {});
  await waitFor(
    `Redis at ${url} to answer PING`,
    async () => {
      if (child?.done()) throw new Error(`redis-server exited:\n${child.lines().join('\n')}`);
      try {
        if (client.status === 'wait' || client.status === 'end') await client.connect();
        return (await client.ping()) === 'PONG' ? true : undefined;
      } catch {
        return undefined;
      }
    },
    10_000,
  );
  const version = (await redisInfo(client, 'server'))['redis_version'] ?? 'unknown';
  return { url, ...(child === undefined ? {} : { child }), client, version, config };
}

// ---- the cluster -----------------------------------------------------------------------------------

export interface ClusterOptions {
  /** Names the scenario in failure reports. */
  readonly name: string;
  readonly instances: number;
  /** haproxy in front (participants speak to it), or participants speak to the first instance. */
  readonly haproxy: boolean;
  readonly sums: number;
  readonly updates: number;
  readonly sumProbability: number;
  readonly weights: number;
  readonly maskModel: 'm3' | 'm6' | 'm9' | 'm12';
  readonly maxBodiesInFlight: number;
  /** cluster.lease_ms (default 5000, the default of the settings). */
  readonly leaseMs?: number;
}

export interface Cluster {
  readonly options: ClusterOptions;
  readonly group: ChildProcesses;
  readonly redis: BenchRedis;
  readonly prefix: string;
  readonly settings: Settings;
  readonly toml: string;
  readonly instances: readonly CoordinatorProcess[];
  readonly haproxy: RunningHaproxy | undefined;
  /** Where participants send: haproxy, or the one instance. */
  readonly url: string;
  readonly fetch: Fetch;
  status(instance: CoordinatorProcess): Promise<CoordinatorStatus>;
  history(limit?: number): Promise<readonly RoundSummary[]>;
  /** Polls every instance's GET /admin/status until all show `phase` of `roundId`. */
  allIn(roundId: number, phase: string, timeoutMs?: number): Promise<void>;
  /** The instance that leads now. */
  leader(): Promise<CoordinatorProcess>;
  /** Every process's output, written to a file; returns its path. */
  saveReport(): string;
  stop(): Promise<void>;
}

function clusterToml(o: ClusterOptions & { instance: string; prefix: string; redisUrl: string; models: string }) {
  const phase = (count: number) =>
    `count = { min = ${count}, max = ${count} }\ntime = { min_ms = 0, max_ms = ${PHASE_MAX_MS} }`;
  return `
[api]
port = 0
admin_token = "ADMIN_TOKEN"
max_bodies_in_flight = ${o.maxBodiesInFlight}
[admission]
kind = "open"
[limits]
# Every request of this bench comes from 127.0.0.1: per-address and per-subject limits would
# measure the bench's one address, not the coordinators.
messages_per_minute_per_subject = 0
messages_per_minute_per_ip = 0
phase_polls_per_minute_per_ip = 0
[pet.sum]
probability = ${o.sumProbability}
${phase(o.sums)}
[pet.update]
probability = 1
${phase(o.updates)}
[pet.sum2]
${phase(o.sums)}
[mask]
model = "${o.maskModel}"
[model]
length = ${o.weights}
[store]
kind = "redis"
redis_url = "${o.redisUrl}"
key_prefix = "${o.prefix}"
[models]
dir = "${o.models}"
[cluster]
instance = "${o.instance}"
lease_ms = ${o.leaseMs ?? 5000}
checkpoint_every = 8
`;
}

/**
 * A module preloaded into a coordinator (NODE_OPTIONS --import; --cpu-prof is not allowed there)
 * that profiles it with node:inspector and writes <SCALE_CPU_PROF>/<name>-<pid>.cpuprofile at exit.
 */
function profiler(name: string): string {
  const file = join(CPU_PROF_DIR as string, `profiler-${name}.mjs`);
  writeFileSync(
    file,
    `import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
const session = new Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: 500 });
session.post('Profiler.start');
process.on('exit', () => {
  session.post('Profiler.stop', (error, result) => {
    if (!error) writeFileSync(${JSON.stringify(CPU_PROF_DIR)} + '/${name}-' + process.pid + '.cpuprofile', JSON.stringify(result.profile));
  });
});
`,
  );
  return file;
}

/** Starts a private Redis, `options.instances` coordinator processes on it and haproxy; waits for one leader. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const group = new ChildProcesses();
  const dir = mkdtempSync(join(tmpdir(), `petfl-scale-${options.name}-`));
  const prefix = `petfl-scale-${randomUUID()}`;
  // SECURITY: a per-run operator token; the processes never log it.
  const adminToken = randomBytes(24).toString('base64url');
  let redis: BenchRedis | undefined;
  const saveReport = () => {
    const file = join(tmpdir(), `petfl-scale-${options.name}-${Date.now()}.log`);
    writeFileSync(file, group.report());
    return file;
  };
  try {
    redis = await startRedis(group, dir);
    const redisUrl = redis.url;
    const names = ['a', 'b', 'c', 'd', 'e', 'f'].slice(0, options.instances);
    const tomlOf = (instance: string) =>
      clusterToml({ ...options, instance, prefix, redisUrl, models: join(dir, 'models') }).replace(
        'ADMIN_TOKEN',
        adminToken,
      );
    const instances = await Promise.all(
      names.map((name) =>
        startCoordinatorProcess(group, {
          name,
          toml: tomlOf(name),
          dir,
          timeoutMs: 60_000,
          // SCALE_CPU_PROF=<dir>: each coordinator writes a V8 CPU profile there when it stops (diagnosis only).
          ...(CPU_PROF_DIR === undefined ? {} : { env: { NODE_OPTIONS: `--import=${profiler(name)}` } }),
        }),
      ),
    );
    const haproxy = options.haproxy
      ? await startHaproxy(
          group,
          dir,
          instances.map((i) => ({ name: i.name, port: i.port })),
        )
      : undefined;
    const url = haproxy?.url ?? (instances[0] as CoordinatorProcess).url;
    const admin = async (instance: CoordinatorProcess, path: string): Promise<unknown> => {
      for (let attempt = 1; ; attempt++) {
        let res: Response;
        try {
          res = await fetch(`${instance.url}/admin${path}`, { headers: { authorization: `Bearer ${adminToken}` } });
        } catch (error) {
          // A kept-alive connection the server closed as it was reused: the bench's own reads try again.
          const cause = (error as Error).cause;
          const reason = `${instance.name} GET /admin${path}: ${String(error)}${cause === undefined ? '' : ` (${String(cause)})`}`;
          if (attempt >= 3 || instance.done()) throw new Error(reason);
          adminRetries.push(reason);
          continue;
        }
        if (res.status !== 200)
          throw new Error(`${instance.name} GET /admin${path}: ${res.status} ${await res.text()}`);
        return res.json();
      }
    };
    const status = (instance: CoordinatorProcess) => admin(instance, '/status') as Promise<CoordinatorStatus>;
    const bench = redis;
    const cluster: Cluster = {
      options,
      group,
      redis: bench,
      prefix,
      settings: parseSettings(tomlOf('a'), {}),
      toml: tomlOf('a').replace(adminToken, '<admin token>'),
      instances,
      haproxy,
      url,
      fetch: async (path, init) => {
        // As the SDK does, a read that got no answer (a kept-alive connection closed as it was
        // reused) is sent again; POSTs go through the bench's own retry loop (deliver).
        for (let attempt = 1; ; attempt++) {
          try {
            return await fetch(`${url}${path}`, init);
          } catch (error) {
            const cause = (error as Error).cause;
            const reason = `GET ${path.replace(/\?.*$/, '')}: ${String(error)}${cause === undefined ? '' : ` (${String(cause)})`}`;
            if (attempt >= 3 || (init?.method ?? 'GET') !== 'GET') throw new Error(reason);
            adminRetries.push(reason);
          }
        }
      },
      status,
      history: async (limit = 20) =>
        ((await admin(instances[0] as CoordinatorProcess, `/rounds?limit=${limit}`)) as { rounds: RoundSummary[] })
          .rounds,
      allIn: async (roundId, phase, timeoutMs = 120_000) => {
        await waitFor(
          `every instance of ${options.name} in round ${roundId} ${phase}`,
          async () => {
            const all = await Promise.all(instances.map((i) => status(i).catch(() => undefined)));
            return all.every((s) => s?.roundId === roundId && s.phase === phase) ? true : undefined;
          },
          timeoutMs,
          20,
        );
      },
      leader: async () => {
        const all = await Promise.all(instances.map((i) => status(i)));
        const leaders = instances.filter((_, k) => all[k]?.role === 'leader');
        if (leaders.length !== 1) throw new Error(`${options.name}: ${leaders.length} leaders`);
        return leaders[0] as CoordinatorProcess;
      },
      saveReport,
      stop: async () => {
        if (EXTERNAL_REDIS_URL === undefined) {
          // Before redis-server stops, or the client would try to reconnect to it.
          bench.client.disconnect();
          await group.stopAll();
        } else {
          await group.stopAll();
          const keys = await keysMatching(bench.client, redisStoreKeys(prefix).pattern);
          if (keys.length > 0) await bench.client.del(...keys);
          bench.client.disconnect();
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
    await waitFor(`one leader among ${options.name}'s instances`, () =>
      cluster.leader().then(
        () => true,
        () => undefined,
      ),
    );
    return cluster;
  } catch (error) {
    console.error(`${options.name}: the cluster did not start; every process's output in ${saveReport()}`);
    redis?.client.disconnect();
    await group.stopAll();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

// ---- what the processes cost ------------------------------------------------------------------------

export interface CpuSnapshot {
  readonly at: number;
  readonly processes: Readonly<Record<string, { user: number; system: number }>>;
  /** Each coordinator's main thread (its event loop), CPU seconds. */
  readonly mainThreads: Readonly<Record<string, number>>;
  readonly redisInfoCpu: number;
  readonly bench: NodeJS.CpuUsage;
  readonly machine: ReturnType<typeof machineCpu>;
}

/** The pids whose CPU a window reports: each coordinator, haproxy, redis-server. */
export function pidsOf(cluster: Cluster): Record<string, number> {
  const pids: Record<string, number> = {};
  for (const i of cluster.instances) pids[`coordinator ${i.name}`] = i.process.pid as number;
  if (cluster.haproxy !== undefined) pids['haproxy'] = cluster.haproxy.child.process.pid as number;
  if (cluster.redis.child !== undefined) pids['redis-server'] = cluster.redis.child.process.pid as number;
  return pids;
}

export async function cpuSnapshot(cluster: Cluster): Promise<CpuSnapshot> {
  const info = await redisInfo(cluster.redis.client, 'cpu');
  const redisInfoCpu = Number(info['used_cpu_sys'] ?? 0) + Number(info['used_cpu_user'] ?? 0);
  const pids = Object.entries(pidsOf(cluster));
  const processes = Object.fromEntries(pids.map(([k, pid]) => [k, cpuTimes(pid)]));
  const mainThreads = Object.fromEntries(
    pids.filter(([k]) => k.startsWith('coordinator')).map(([k, pid]) => [k, mainThreadCpuSeconds(pid)]),
  );
  const at = performance.now();
  return { at, processes, mainThreads, redisInfoCpu, bench: process.cpuUsage(), machine: machineCpu() };
}

const r3 = (x: number) => Number(x.toPrecision(3));

/**
 * CPU seconds each process used between two snapshots (and the kernel's part of them), the
 * machine's busy seconds, and what of those no process of this bench used (other work on the
 * machine), against the cores × seconds the window had.
 */
export function cpuWindow(from: CpuSnapshot, to: CpuSnapshot, cores: number) {
  const seconds = (to.at - from.at) / 1000;
  const processes: Record<string, number> = {};
  const kernel: Record<string, number> = {};
  for (const [k, v] of Object.entries(to.processes)) {
    const before = from.processes[k] ?? { user: 0, system: 0 };
    processes[k] = r3(v.user - before.user + v.system - before.system);
    kernel[k] = r3(v.system - before.system);
  }
  const benchUser = (to.bench.user - from.bench.user) / 1e6;
  const benchSystem = (to.bench.system - from.bench.system) / 1e6;
  processes['bench process (clients)'] = r3(benchUser + benchSystem);
  kernel['bench process (clients)'] = r3(benchSystem);
  const ours = Object.values(processes).reduce((a, b) => a + b, 0);
  const busy = to.machine.busy - from.machine.busy;
  const softirq = to.machine.softirq - from.machine.softirq;
  const coordinators = Object.entries(processes)
    .filter(([k]) => k.startsWith('coordinator'))
    .reduce((a, [, v]) => a + v, 0);
  const eventLoops: Record<string, number> = {};
  for (const [k, v] of Object.entries(to.mainThreads)) eventLoops[k] = r3((v - (from.mainThreads[k] ?? 0)) / seconds);
  return {
    windowS: r3(seconds),
    coreSecondsAvailable: r3(seconds * cores),
    cpuSeconds: processes,
    kernelCpuSeconds: kernel,
    /** Each coordinator's main thread: CPU seconds per second of the window (1 = its event loop never idle). */
    coordinatorMainThreadBusy: eventLoops,
    coordinatorsTotal: r3(coordinators),
    redisInfoUsedCpu: r3(to.redisInfoCpu - from.redisInfoCpu),
    benchProcessesTotal: r3(ours),
    machineBusy: r3(busy),
    machineBusyShare: r3(busy / (seconds * cores)),
    /** Kernel network processing charged to no process (loopback TCP between the processes above, mostly). */
    machineSoftirq: r3(softirq),
    machineSteal: r3(to.machine.steal - from.machine.steal),
    /** Busy time neither the processes above, softirq nor steal account for: other work on the machine. */
    otherOnMachine: r3(Math.max(0, busy - ours - softirq - (to.machine.steal - from.machine.steal))),
  };
}

/** Samples Redis used_memory and each coordinator's RSS every `everyMs`, keeping the maxima. */
export function memorySampler(cluster: Cluster, everyMs = 200) {
  let redisMax = 0;
  let stopped = false;
  const rssMax: Record<string, number> = {};
  const sample = async () => {
    try {
      const info = await redisInfo(cluster.redis.client, 'memory');
      redisMax = Math.max(redisMax, Number(info['used_memory'] ?? 0));
    } catch {
      // Redis is stopping
    }
    for (const i of cluster.instances) {
      rssMax[i.name] = Math.max(rssMax[i.name] ?? 0, memoryMiB(i.process.pid as number).rssMiB);
    }
  };
  const loop = (async () => {
    while (!stopped) {
      await sample();
      await sleep(everyMs);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      await sample();
      return { redisUsedMemoryMaxSampled: redisMax, rssMaxSampledMiB: rssMax };
    },
  };
}

// ---- follow latency ---------------------------------------------------------------------------------

export interface PhaseSeen {
  readonly token: string;
  readonly at: number;
}

/**
 * Holds a `GET /phase?after=<token>&wait_ms=25000` long poll on every instance, directly (not
 * through haproxy), and records when each new token arrived. The first answer of each (the token
 * it had) is not a change and is not kept.
 */
export function watchPhases(cluster: Cluster) {
  const controller = new AbortController();
  const seen = new Map<string, PhaseSeen[]>();
  const loops = cluster.instances.map(async (instance) => {
    const mine: PhaseSeen[] = [];
    seen.set(instance.name, mine);
    let after = '';
    while (!controller.signal.aborted) {
      try {
        const res = await fetch(`${instance.url}/phase?after=${encodeURIComponent(after)}&wait_ms=25000`, {
          signal: controller.signal,
        });
        const { token } = (await res.json()) as { token: string };
        const at = performance.now();
        if (after !== '' && token !== after) mine.push({ token, at });
        after = token;
      } catch {
        if (controller.signal.aborted) return;
        await sleep(50);
      }
    }
  });
  return {
    seen,
    stop: async () => {
      controller.abort();
      await Promise.all(loops);
    },
  };
}

/**
 * For every token the leader and a follower both answered: how much later (ms) the follower's long
 * poll answered it than the leader's — the leader answers its own long polls when it changes the
 * phase, so its answer marks the change as a client sees it.
 */
export function followDelays(seen: ReadonlyMap<string, readonly PhaseSeen[]>, leader: string) {
  const lead = new Map((seen.get(leader) ?? []).map((s) => [s.token, s.at]));
  const delays: { follower: string; token: string; ms: number }[] = [];
  for (const [name, list] of seen) {
    if (name === leader) continue;
    for (const s of list) {
      const at = lead.get(s.token);
      if (at !== undefined) delays.push({ follower: name, token: s.token, ms: s.at - at });
    }
  }
  return delays;
}
