/**
 * What the browser harness itself costs a participant's uploads: a dedicated Worker in headless
 * Chromium POSTs 1 MiB bodies (the SDK's chunk size) one after another to a local server, in a
 * browser started by Playwright (as `npm run bench:e2e` and the e2e suite start theirs: Playwright
 * attaches to every page and Worker and follows their network traffic) and in the same Chromium
 * started bare, with nothing attached. The Worker times each `fetch` call itself (the synchronous
 * part: handing the body over) and each request to its answer; it reports the medians to the
 * server. The two ways alternate over REPS runs.
 *
 * Why: bench:e2e measures secure rounds against plain ones through Playwright by default, and a
 * cost per byte that only the harness adds is not what users pay. Which side of the ratio it
 * weighs on more, `npm run bench:e2e -- --driver bare` shows (README).
 *
 *   npm run bench:harness   → bench/results/playwright-overhead.json
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../e2e/support/chromium.ts';

const RESULTS = 'bench/results/playwright-overhead.json';
const BODY_BYTES = 1024 * 1024;
const REQUESTS = 40;
const WARMUP = 5;
const REPS = 4;

/** The Worker's script: POSTs the body REQUESTS + WARMUP times to `${origin}/post`, then the medians to /result. */
const WORKER = `
onmessage = async (event) => {
  const origin = event.data;
  const body = new Uint8Array(${BODY_BYTES});
  for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 255;
  const call = [];
  const request = [];
  for (let r = 0; r < ${REQUESTS + WARMUP}; r++) {
    const t0 = performance.now();
    const pending = fetch(origin + '/post', { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    const t1 = performance.now();
    await (await pending).arrayBuffer();
    if (r >= ${WARMUP}) { call.push(t1 - t0); request.push(performance.now() - t0); }
  }
  const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
  await fetch(origin + '/result', { method: 'POST', body: JSON.stringify({ callMs: median(call), requestMs: median(request) }) });
};`;

const PAGE = `<!doctype html><title>upload</title><script>
const worker = new Worker(URL.createObjectURL(new Blob([${JSON.stringify(WORKER)}], { type: 'text/javascript' })));
worker.postMessage(location.origin);
</script>`;

interface Sample {
  readonly callMs: number;
  readonly requestMs: number;
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** A server for the page, the uploads and the one result; resolves `result` when it comes. */
function startServer(): Promise<{ server: Server; origin: string; result: Promise<Sample> }> {
  let deliver: (sample: Sample) => void = () => {};
  const result = new Promise<Sample>((resolve) => {
    deliver = resolve;
  });
  const server = createServer((req, res) => {
    if (req.method === 'GET') {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(PAGE);
      return;
    }
    readAll(req).then(
      (body) => {
        res.end('ok');
        if (req.url === '/result') deliver(JSON.parse(body.toString('utf8')) as Sample);
      },
      () => res.destroy(),
    );
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, origin: `http://127.0.0.1:${port}`, result });
    });
  });
}

async function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result in 120 s`)), 120_000);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function runPlaywright(): Promise<Sample> {
  const { server, origin, result } = await startServer();
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS] });
  try {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${origin}/`);
    return await withTimeout(result, 'playwright');
  } finally {
    await browser.close();
    server.close();
  }
}

async function runBare(): Promise<Sample> {
  const { server, origin, result } = await startServer();
  const profile = mkdtempSync(join(tmpdir(), 'petfl-bare-chromium-'));
  const child: ChildProcess = spawn(
    CHROMIUM_PATH,
    [...CHROMIUM_ARGS, '--headless', `--user-data-dir=${profile}`, `${origin}/`],
    // A process group of its own: the browser's helpers (renderer, GPU, …) end with it.
    { stdio: 'ignore', detached: true },
  );
  try {
    return await withTimeout(result, 'bare');
  } finally {
    const exited = new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(null)));
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    await exited;
    server.close();
    rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;
const round2 = (x: number): number => Math.round(x * 100) / 100;

async function main(): Promise<void> {
  const loadAtStart = loadavg()[0] as number;
  const samples: Record<'bare' | 'playwright', Sample[]> = { bare: [], playwright: [] };
  for (let rep = 0; rep < REPS; rep++) {
    samples.bare.push(await runBare());
    samples.playwright.push(await runPlaywright());
    process.stdout.write(
      `rep ${rep + 1}: bare ${JSON.stringify(samples.bare.at(-1))}, playwright ${JSON.stringify(samples.playwright.at(-1))}\n`,
    );
  }
  const summary = (which: 'bare' | 'playwright') => ({
    fetchCallMs: {
      median: round2(median(samples[which].map((s) => s.callMs))),
      runs: samples[which].map((s) => round2(s.callMs)),
    },
    requestMs: {
      median: round2(median(samples[which].map((s) => s.requestMs))),
      runs: samples[which].map((s) => round2(s.requestMs)),
    },
  });
  const bare = summary('bare');
  const playwright = summary('playwright');
  const report = {
    date: new Date().toISOString(),
    machine: {
      node: process.version,
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      loadAverage1m: { atStart: loadAtStart, atEnd: loadavg()[0] },
    },
    what: `a dedicated Worker POSTs ${BODY_BYTES} bytes ${REQUESTS} times (after ${WARMUP} warm-up requests) to a local server, one at a time; per run the median of the fetch() call itself and of the request to its answer; ${REPS} runs per way, alternated`,
    bare,
    playwright,
    playwrightToBare: {
      fetchCall: round2(playwright.fetchCallMs.median / bare.fetchCallMs.median),
      request: round2(playwright.requestMs.median / bare.requestMs.median),
    },
  };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(report.playwrightToBare)}\nwrote ${RESULTS}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
