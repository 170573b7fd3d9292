/**
 * `npm run bench:adversarial`: 100,000 hostile messages (test-support/fuzz.ts: random bytes,
 * truncations, bit flips, replays, messages sealed to the previous round, garbage payloads and
 * headers, ineligible signatures, chunk abuse, oversized bodies) against the coordinator CLI in
 * its own process, over real HTTP with keep-alive connections, while an honest round runs
 * through the same coordinator (docs/security.md). Results go to bench/results/adversarial.json.
 *
 * Checked, not just timed: 0 answers 2xx for a hostile message, 0 5xx, 0 connection errors on
 * well-formed requests (an oversized body may be cut off by the server's early 413: counted
 * apart), and the honest round's global model is the exact weighted average. Reported: hostile
 * messages per second held, against a floor measured in the same run — the rate of
 * `GET /params` (the cheapest route) at the same concurrency — and the coordinator process's CPU
 * seconds and peak RSS. Per-address rate limits are off here (one client address sends it all).
 *
 *   npx tsx bench/adversarial.bench.ts [--messages 100000] [--concurrency 16]
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createCoordinatorApp } from '../packages/coordinator/src/create.ts';
import { PrometheusMetrics } from '../packages/coordinator/src/prometheus/prometheus-metrics.ts';
import { parseSettings } from '../packages/coordinator/src/settings.ts';
import { MemoryModelStore } from '../packages/coordinator/src/store/memory-model-store.ts';
import { type Mutator, mutators, prng } from '../packages/coordinator/test-support/fuzz.ts';
import { ManualClock } from '../packages/coordinator/test-support/manual-clock.ts';
import {
  exactAverage,
  type Fetch,
  fetchParams,
  fetchSeeds,
  fetchSumDict,
  identities,
  pickTasks,
  randomModel,
  type SimParticipant,
  sum2Message,
  sumMessage,
  updateMessage,
} from '../packages/coordinator/test-support/sim.ts';
import {
  decodeGlobalModel,
  initCrypto,
  isPetError,
  PET_ERROR_CODES,
  type PetCrypto,
  selectTask,
} from '../packages/core/src/index.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '100000' },
    concurrency: { type: 'string', default: '16' },
  },
});
const MESSAGES = Number(values.messages);
const CONCURRENCY = Number(values.concurrency);
const FLOOR_REQUESTS = 20_000;
const MAX_BODY = 65_536;
const ADMIN = 'adversarial-bench-admin-token-0123456789abcdef';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** CPU seconds (user + system) and peak RSS (MiB) of a process, from /proc. */
function usage(pid: number): { cpuS: number; peakRssMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuS: ticks / 100, peakRssMiB: Math.round(Number(hwm?.[1] ?? 0) / 1024) };
}

/** Starts the CLI (its own Node process) and resolves with its URL once it listens. */
async function startCli(modelsDir: string): Promise<{ child: ChildProcess; url: string }> {
  const env = {
    ...process.env,
    LOG_LEVEL: 'info', // the 'listening' line carries the URL
    PETFL_API_PORT: '0',
    PETFL_API_ADMIN_TOKEN: ADMIN,
    PETFL_API_MAX_BODY_BYTES: String(MAX_BODY),
    PETFL_API_MAX_BODIES_IN_FLIGHT: String(4 * CONCURRENCY),
    PETFL_LIMITS_MESSAGES_PER_MINUTE_PER_IP: '0',
    PETFL_LIMITS_PHASE_POLLS_PER_MINUTE_PER_IP: '0',
    PETFL_MODEL_LENGTH: '1000',
    PETFL_MODELS_DIR: modelsDir,
    // The honest round: phases end by count (3 sum, 10 update, 3 sum2), never by a timer.
    PETFL_PET_SUM_PROBABILITY: '0.2',
    PETFL_PET_UPDATE_PROBABILITY: '0.6',
    PETFL_PET_SUM_COUNT_MIN: '3',
    PETFL_PET_SUM_COUNT_MAX: '3',
    PETFL_PET_UPDATE_COUNT_MIN: '10',
    PETFL_PET_UPDATE_COUNT_MAX: '10',
    PETFL_PET_SUM2_COUNT_MIN: '3',
    PETFL_PET_SUM2_COUNT_MAX: '3',
    PETFL_PET_SUM_TIME_MAX_MS: '3600000',
    PETFL_PET_UPDATE_TIME_MAX_MS: '3600000',
    PETFL_PET_SUM2_TIME_MAX_MS: '3600000',
  };
  const child = spawn(process.execPath, [join(root, 'packages/coordinator/bin/petfl-coordinator.mjs')], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /coordinator listening on (http:\/\/[^\s"]+)/.exec(out);
      if (match?.[1] !== undefined) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`the coordinator exited (${code}) before listening:\n${out}`)));
  });
  return { child, url };
}

/** Runs `count` tasks with at most CONCURRENCY at once. */
async function pool(count: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

/**
 * What one hostile 16 MB update costs the coordinator's event loop (in process, best of 5):
 * a replay of an accepted update (duplicate-message) and an update from a key the round did not
 * select (not-eligible), both refused before the payload is decoded. Floor: decrypting and
 * verifying a message of the same size, the part no check can skip (the whole message is sealed).
 */
async function bigMessageCosts(crypto: PetCrypto) {
  const length = 2_300_000; // 6.375 bytes a weight under power2/f32/b2/m3 (packed, protocol.md §3.6): a 14.7 MB update
  const settings = parseSettings(undefined, {
    PETFL_API_ADMIN_TOKEN: ADMIN,
    PETFL_MODEL_LENGTH: String(length),
    PETFL_PET_SUM_PROBABILITY: '0.3',
    PETFL_PET_UPDATE_PROBABILITY: '0.5',
    PETFL_PET_SUM_COUNT_MAX: '3',
    PETFL_PET_SUM2_COUNT_MAX: '3',
    PETFL_PET_UPDATE_COUNT_MAX: '10',
  });
  const app = await createCoordinatorApp(settings, {
    crypto,
    clock: new ManualClock(),
    models: new MemoryModelStore(),
    metrics: new PrometheusMetrics(),
  });
  try {
    const fetch: Fetch = async (path, init) => app.app.request(path, init);
    const people = identities(crypto, 60, 81);
    const params = await fetchParams(fetch);
    const { sum, update } = pickTasks(crypto, params, people, { sum: 3, update: 1 });
    for (const p of sum) await app.coordinator.handleMessage(sumMessage(crypto, params, p));
    const sumDict = (await fetchSumDict(fetch)) ?? new Map();
    const model = randomModel(length, 5);
    const [honest] = updateMessage(crypto, params, update[0] as (typeof update)[number], sumDict, model, 1);
    await app.coordinator.handleMessage(honest as Uint8Array);
    const stranger = identities(crypto, 200, 82).find(
      (p) =>
        selectTask(crypto, params.seed, p.keys.secretKey, {
          sum: params.sumProbability,
          update: params.updateProbability,
        }).task === 'none', // neither sum nor update: its update is not-eligible
    ) as SimParticipant;
    const strangerSelected = {
      ...stranger,
      selection: selectTask(crypto, params.seed, stranger.keys.secretKey, { sum: params.sumProbability, update: 1 }),
    };
    const [ineligible] = updateMessage(crypto, params, strangerSelected, sumDict, model, 1);
    const time = async (body: Uint8Array, code: string) => {
      const runs: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        try {
          await app.coordinator.handleMessage(body);
          throw new Error(`expected ${code}, got 202`);
        } catch (error) {
          if (!isPetError(error, code as never)) throw error;
        }
        runs.push(performance.now() - t0);
      }
      return Math.round(Math.min(...runs) * 10) / 10;
    };
    const keys = crypto.encryptKeyPair();
    const signer = crypto.signingKeyPair();
    const plain = crypto.randomBytes((honest as Uint8Array).length - 48);
    const sealed = crypto.sealEnvelope(plain, keys.publicKey);
    const signature = crypto.sign(plain.subarray(64), signer.secretKey);
    const floors: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const opened = crypto.openEnvelope(sealed, keys, 'bench');
      crypto.verify(signature, opened.subarray(64), signer.publicKey);
      floors.push(performance.now() - t0);
    }
    const floorMs = Math.round(Math.min(...floors) * 10) / 10;
    const replayMs = await time(honest as Uint8Array, 'duplicate-message');
    const ineligibleMs = await time(ineligible as Uint8Array, 'not-eligible');
    return {
      what: 'one hostile 16 MB update, in process, best of 5 (refused before decoding)',
      bytes: (honest as Uint8Array).length,
      replayMs,
      ineligibleMs,
      floor: { what: 'decrypt + verify of a message of the same size', ms: floorMs },
      replayRatioToFloor: Math.round((replayMs / floorMs) * 100) / 100,
    };
  } finally {
    await app.close();
  }
}

const bigMessage = await bigMessageCosts(await initCrypto());

const modelsDir = mkdtempSync(join(tmpdir(), 'petfl-adversarial-bench-'));
const { child, url } = await startCli(modelsDir);
try {
  const pid = child.pid as number;
  const fetch: Fetch = (path, init) => globalThis.fetch(`${url}${path}`, init);
  const crypto = await initCrypto();

  // Floor: the cheapest route at the same concurrency.
  const floorStart = performance.now();
  await pool(FLOOR_REQUESTS, async () => {
    await (await fetch('/params')).arrayBuffer();
  });
  const floorPerS = FLOOR_REQUESTS / ((performance.now() - floorStart) / 1000);

  // A first honest round (so the previous round's key exists for wrong-round messages).
  const people = identities(crypto, 120, 71);
  const honestRound = async (seed: number, between: (body: Uint8Array) => Promise<void>) => {
    const params = await fetchParams(fetch);
    const { sum, update } = pickTasks(crypto, params, people, { sum: 3, update: 10 });
    for (const p of sum) await between(sumMessage(crypto, params, p));
    const sumDict = (await fetchSumDict(fetch)) ?? new Map();
    const models = update.map((_, i) => randomModel(params.modelLength, seed * 100 + i));
    const scalars = update.map((_, i) => 1 + (i % 4));
    for (const [i, p] of update.entries()) {
      const [body] = updateMessage(crypto, params, p, sumDict, models[i] as Float32Array, scalars[i] as number);
      await between(body as Uint8Array);
    }
    for (const p of sum) {
      await between(sum2Message(crypto, params, p, (await fetchSeeds(fetch, p, params.coordinatorPk)) ?? new Map()));
    }
    return { params, models, scalars };
  };
  const post = async (body: Uint8Array) => {
    const res = await fetch('/message', {
      method: 'POST',
      body: body as Uint8Array<ArrayBuffer>,
      headers: { 'content-type': 'application/octet-stream' },
    });
    const json = (await res.json().catch(() => ({}))) as { code?: string };
    return { status: res.status, code: json.code };
  };
  const oldParams = await fetchParams(fetch);
  await honestRound(1, async (body) => {
    const res = await post(body);
    if (res.status !== 202) throw new Error(`honest message refused: ${JSON.stringify(res)}`);
  });

  // The barrage, interleaved with the honest round's 16 messages.
  const params = await fetchParams(fetch);
  const strangers = identities(crypto, 8, 72);
  // Replays and mutations start from a real sealed message; accepted honest ones join as the round goes.
  const early = pickTasks(crypto, params, people, { sum: 0, update: 1 }).update[0];
  if (early === undefined) throw new Error('no update participant');
  const seen = updateMessage(crypto, params, early, new Map(), randomModel(params.modelLength, 1), 1);
  const rand = prng(0xadd5);
  const codes: Record<string, number> = {};
  const violations: string[] = [];
  let wellFormedErrors = 0;
  let oversizeCutOff = 0;
  let sent = 0;
  const known = new Set<string>(PET_ERROR_CODES);
  const perHonest = Math.ceil(MESSAGES / 16);
  const before = usage(pid);
  const start = performance.now();
  const barrage = async (count: number) => {
    const muts = mutators(crypto, params, strangers[sent % 8] as SimParticipant, oldParams, seen, MAX_BODY);
    // Each body is made just before it is sent: making them all first would block this client's
    // event loop for seconds, and its idle keep-alive sockets would race the server's close.
    await pool(count, async () => {
      const body = (muts[Math.floor(rand() * muts.length)] as Mutator)(rand);
      const oversize = body.length > MAX_BODY;
      sent += 1;
      try {
        const res = await post(body);
        codes[`${res.status} ${res.code}`] = (codes[`${res.status} ${res.code}`] ?? 0) + 1;
        if (res.status < 400 || res.status > 499 || res.code === undefined || !known.has(res.code)) {
          if (violations.length < 20) violations.push(`${res.status} ${res.code}`);
        }
      } catch (error) {
        if (oversize) oversizeCutOff += 1;
        else {
          wellFormedErrors += 1;
          const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause;
          const what = `connection error: ${(error as Error).message} (${cause?.code ?? ''} ${cause?.message ?? ''}) on a ${body.length}-byte body`;
          if (violations.length < 20) violations.push(what);
        }
      }
    });
  };
  const { models, scalars } = await honestRound(2, async (body) => {
    await barrage(perHonest);
    const res = await post(body);
    if (res.status !== 202) throw new Error(`honest message refused during the barrage: ${JSON.stringify(res)}`);
    seen.push(body);
  });
  const seconds = (performance.now() - start) / 1000;
  const after = usage(pid);

  const global = decodeGlobalModel(new Uint8Array(await (await fetch('/model')).arrayBuffer()));
  const reference = exactAverage(models, scalars);
  let worst = 0;
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i] as number;
    worst = Math.max(worst, Math.abs((global.model[i] as number) - r) - Math.abs(r) * 2 ** -24);
  }
  const exact = global.roundId === params.roundId && worst <= models.length / 1e10;
  const messagesPerS = sent / seconds;
  const results = {
    what: 'hostile messages against the coordinator CLI over HTTP while an honest round runs',
    machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg() },
    concurrency: CONCURRENCY,
    messages: sent,
    seconds: Math.round(seconds * 100) / 100,
    messagesPerS: Math.round(messagesPerS),
    floor: { what: 'GET /params at the same concurrency', requestsPerS: Math.round(floorPerS) },
    ratioToFloor: Math.round((messagesPerS / floorPerS) * 1000) / 1000,
    coordinator: {
      cpuS: Math.round((after.cpuS - before.cpuS) * 100) / 100,
      cpuMsPerMessage: Math.round(((after.cpuS - before.cpuS) / sent) * 1e5) / 100,
      peakRssMiB: after.peakRssMiB,
    },
    bigMessage,
    answers: Object.fromEntries(Object.entries(codes).sort((a, b) => b[1] - a[1])),
    checks: {
      violations: violations.length,
      wellFormedConnectionErrors: wellFormedErrors,
      oversizeCutOffBeforeAnswer: oversizeCutOff,
      honestRoundExact: exact,
    },
    ...(violations.length > 0 ? { firstViolations: violations } : {}),
  };
  const out = join(root, 'bench/results/adversarial.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.warn(JSON.stringify(results, null, 2));
  if (violations.length > 0 || wellFormedErrors > 0 || !exact) {
    console.error('adversarial bench: checks failed');
    process.exitCode = 1;
  }
} finally {
  child.kill('SIGTERM');
  rmSync(modelsDir, { recursive: true, force: true });
}
