/**
 * What serving the global model costs the coordinator per participant (`GET /model`, protocol.md
 * §3.10), by how CORS is applied (packages/coordinator/src/http/cors.ts). A server process runs the
 * coordinator's own middleware stack around a `GET /model` that answers a 1,000,000-weight f32
 * model (4,000,012 bytes) — securityHeaders, then CORS, then hono's etag, as createApp does —
 * through @hono/node-server on a real socket; this process fetches it with an allowed `Origin`
 * and reads /proc for the server's CPU (user + system). Variants, alternated over REPS runs:
 *
 * - `none`: no CORS middleware — the floor;
 * - `hono`: hono's `cors` middleware, which sets its headers before the handler (what the
 *   coordinator used before);
 * - `corsHeaders`: ours, which sets the same headers on the handler's response after it.
 *
 *   npx tsx --conditions=@petfl/source bench/model-serving.bench.ts   → bench/results/model-serving.json
 */

import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { Hono, type MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import { etag } from 'hono/etag';
import { corsHeaders } from '../packages/coordinator/src/http/cors.ts';
import { securityHeaders } from '../packages/coordinator/src/http/security-headers.ts';

const RESULTS = 'bench/results/model-serving.json';
const MODEL_BYTES = 4_000_012;
const REQUESTS = 200;
const WARMUP = 20;
const REPS = 3;
const ORIGIN = 'http://app.example';
const VARIANTS = ['none', 'hono', 'corsHeaders'] as const;
type Variant = (typeof VARIANTS)[number];

const SETTINGS = {
  allowMethods: ['GET', 'POST', 'PUT', 'OPTIONS'],
  allowHeaders: ['Content-Type', 'Authorization', 'If-None-Match'],
  exposeHeaders: ['ETag'],
  maxAge: 600,
};

function corsFor(variant: Variant): MiddlewareHandler | undefined {
  if (variant === 'hono') return cors({ origin: [ORIGIN], ...SETTINGS });
  if (variant === 'corsHeaders') return corsHeaders({ origins: [ORIGIN], ...SETTINGS });
  return undefined;
}

/** The server process: prints its port, serves until killed. */
function server(variant: Variant): void {
  const body = new Uint8Array(MODEL_BYTES);
  const app = new Hono();
  app.use('*', securityHeaders());
  const middleware = corsFor(variant);
  if (middleware !== undefined) app.use('*', middleware);
  app.get('/model', etag(), (c) =>
    c.body(body, 200, { 'content-type': 'application/octet-stream', 'cache-control': 'no-cache', etag: '"1-x"' }),
  );
  const listening = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  listening.once('listening', () => console.log((listening.address() as { port: number }).port));
}

/** CPU ms (user + system) of a process so far, from /proc (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function measure(variant: Variant): Promise<{ cpuMsPerRequest: number; wallMsPerRequest: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'server', variant], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.once('data', (data) => resolve(Number(String(data).trim())));
      child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });
    const get = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/model`, { headers: { origin: ORIGIN } });
      const bytes = await res.arrayBuffer();
      if (res.status !== 200 || bytes.byteLength !== MODEL_BYTES) throw new Error(`${variant}: ${res.status}`);
      if (variant !== 'none' && res.headers.get('access-control-allow-origin') !== ORIGIN) {
        throw new Error(`${variant}: no CORS header`);
      }
    };
    for (let i = 0; i < WARMUP; i++) await get();
    const pid = child.pid as number;
    const cpu0 = cpuMs(pid);
    const t0 = performance.now();
    for (let i = 0; i < REQUESTS; i++) await get();
    return {
      cpuMsPerRequest: (cpuMs(pid) - cpu0) / REQUESTS,
      wallMsPerRequest: (performance.now() - t0) / REQUESTS,
    };
  } finally {
    child.kill();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

async function main(): Promise<void> {
  const samples = new Map<Variant, { cpu: number[]; wall: number[] }>(VARIANTS.map((v) => [v, { cpu: [], wall: [] }]));
  const loadAtStart = loadavg()[0];
  for (let rep = 0; rep < REPS; rep++) {
    for (const variant of VARIANTS) {
      const { cpuMsPerRequest, wallMsPerRequest } = await measure(variant);
      samples.get(variant)?.cpu.push(cpuMsPerRequest);
      samples.get(variant)?.wall.push(wallMsPerRequest);
      console.log(
        `${variant}: ${cpuMsPerRequest.toFixed(2)} ms CPU, ${wallMsPerRequest.toFixed(2)} ms wall per request`,
      );
    }
  }
  const floor = median(samples.get('none')?.cpu ?? []);
  const variants = Object.fromEntries(
    VARIANTS.map((v) => {
      const { cpu, wall } = samples.get(v) ?? { cpu: [], wall: [] };
      return [
        v,
        {
          serverCpuMsPerRequest: { median: median(cpu), samples: cpu },
          wallMsPerRequest: { median: median(wall), samples: wall },
          cpuRatioToNone: Number((median(cpu) / floor).toFixed(2)),
        },
      ];
    }),
  );
  const result = {
    date: new Date().toISOString(),
    machine: {
      node: process.version,
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      loadAverage1m: { atStart: loadAtStart, atEnd: loadavg()[0] },
    },
    what: `server CPU (user + system, /proc, 10 ms ticks) per GET /model of a ${MODEL_BYTES}-byte body, ${REQUESTS} requests after ${WARMUP} warm-up ones, one at a time, ${REPS} runs per variant, alternated`,
    variants,
  };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${RESULTS}`);
}

if (process.argv[2] === 'server') server(process.argv[3] as Variant);
else await main();
