/**
 * What the coordinator's HTTP middleware costs on large bodies, by how it is built
 * (packages/coordinator/src/http/cors.ts, body-limit.ts). A server process runs the coordinator's
 * own middleware around a route through @hono/node-server on a real socket; this process sends the
 * requests one at a time and reads /proc for the server's CPU (user + system, 10 ms ticks).
 *
 * - `model`: `GET /model` answering a 1,000,000-weight f32 global model (4,000,012 bytes), with an
 *   allowed `Origin`, behind securityHeaders, CORS and hono's etag as createApp stacks them.
 *   Variants: `none` (no CORS: the floor); `hono` (hono's `cors`, which sets its headers before
 *   the handler: what the coordinator used before); `corsHeaders` (ours, the same headers after).
 * - `message`: `POST /message` with a 1 MiB body (the SDK's chunk size) that the handler reads
 *   with `c.req.arrayBuffer()`, as createApp's did until 2026-12-05. Variants: `none` (no limit:
 *   the floor); `hono` (hono's `bodyLimit`); `limitBody` (ours); `nodeBody` (ours, and the body
 *   read by `readNodeRequestBody`, packages/coordinator/src/node/request-body.ts, as the Node
 *   coordinator now reads it).
 *
 * Variants alternate over REPS runs; medians are reported, with each variant's ratio to `none`.
 *
 *   npm run bench:http   → bench/results/http-bodies.json
 */

import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { etag } from 'hono/etag';
import { limitBody } from '../packages/coordinator/src/http/body-limit.ts';
import { corsHeaders } from '../packages/coordinator/src/http/cors.ts';
import { securityHeaders } from '../packages/coordinator/src/http/security-headers.ts';
import { readNodeRequestBody } from '../packages/coordinator/src/node/request-body.ts';

const RESULTS = 'bench/results/http-bodies.json';
const MODEL_BYTES = 4_000_012;
const MESSAGE_BYTES = 1024 * 1024;
const MAX_BODY_BYTES = 16 * 1024 * 1024;
const REQUESTS = { model: 200, message: 300 };
const WARMUP = 20;
const REPS = 3;
const ORIGIN = 'http://app.example';
const PARTS = {
  model: ['none', 'hono', 'corsHeaders'],
  message: ['none', 'hono', 'limitBody', 'nodeBody'],
} as const;
type Part = keyof typeof PARTS;

const CORS = {
  allowMethods: ['GET', 'POST', 'PUT', 'OPTIONS'],
  allowHeaders: ['Content-Type', 'Authorization', 'If-None-Match'],
  exposeHeaders: ['ETag'],
  maxAge: 600,
};

function middlewareFor(part: Part, variant: string): MiddlewareHandler | undefined {
  const tooLarge: (c: Parameters<MiddlewareHandler>[0]) => Response = (c) => c.body(null, 413);
  if (part === 'model' && variant === 'hono') return cors({ origin: [ORIGIN], ...CORS });
  if (part === 'model' && variant === 'corsHeaders') return corsHeaders({ origins: [ORIGIN], ...CORS });
  if (part === 'message' && variant === 'hono') return bodyLimit({ maxSize: MAX_BODY_BYTES, onError: tooLarge });
  if (part === 'message' && (variant === 'limitBody' || variant === 'nodeBody'))
    return limitBody({ maxSize: MAX_BODY_BYTES, onError: tooLarge });
  return undefined;
}

/** The server process: prints its port, serves until killed. */
function server(part: Part, variant: string): void {
  const app = new Hono();
  app.use('*', securityHeaders());
  const middleware = middlewareFor(part, variant);
  if (part === 'model') {
    const body = new Uint8Array(MODEL_BYTES);
    if (middleware !== undefined) app.use('*', middleware);
    app.get('/model', etag(), (c) =>
      c.body(body, 200, { 'content-type': 'application/octet-stream', 'cache-control': 'no-cache', etag: '"1-x"' }),
    );
  } else {
    let received = 0;
    const handler: MiddlewareHandler = async (c) => {
      received += (variant === 'nodeBody' ? await readNodeRequestBody(c) : await c.req.arrayBuffer()).byteLength;
      return c.json({ accepted: received > 0 ? 'chunk' : 'none' }, 202);
    };
    if (middleware === undefined) app.post('/message', handler);
    else app.post('/message', middleware, handler);
  }
  const listening = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  listening.once('listening', () => console.log((listening.address() as { port: number }).port));
}

/** CPU ms (user + system) of a process so far, from /proc (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function measure(part: Part, variant: string): Promise<{ cpuMs: number; wallMs: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'server', part, variant], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.once('data', (data) => resolve(Number(String(data).trim())));
      child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });
    const message = new Uint8Array(MESSAGE_BYTES);
    const send = async () => {
      if (part === 'model') {
        const res = await fetch(`http://127.0.0.1:${port}/model`, { headers: { origin: ORIGIN } });
        const bytes = await res.arrayBuffer();
        if (res.status !== 200 || bytes.byteLength !== MODEL_BYTES) throw new Error(`${variant}: ${res.status}`);
        if (variant !== 'none' && res.headers.get('access-control-allow-origin') !== ORIGIN) {
          throw new Error(`${variant}: no CORS header`);
        }
      } else {
        const res = await fetch(`http://127.0.0.1:${port}/message`, { method: 'POST', body: message });
        await res.arrayBuffer();
        if (res.status !== 202) throw new Error(`${variant}: ${res.status}`);
      }
    };
    for (let i = 0; i < WARMUP; i++) await send();
    const pid = child.pid as number;
    const cpu0 = cpuMs(pid);
    const t0 = performance.now();
    for (let i = 0; i < REQUESTS[part]; i++) await send();
    return { cpuMs: (cpuMs(pid) - cpu0) / REQUESTS[part], wallMs: (performance.now() - t0) / REQUESTS[part] };
  } finally {
    child.kill();
  }
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

async function main(): Promise<void> {
  const loadAtStart = loadavg()[0];
  const parts: Record<string, unknown> = {};
  for (const part of Object.keys(PARTS) as Part[]) {
    const samples = new Map<string, { cpu: number[]; wall: number[] }>(
      PARTS[part].map((v) => [v, { cpu: [], wall: [] }]),
    );
    for (let rep = 0; rep < REPS; rep++) {
      for (const variant of PARTS[part]) {
        const { cpuMs, wallMs } = await measure(part, variant);
        samples.get(variant)?.cpu.push(cpuMs);
        samples.get(variant)?.wall.push(wallMs);
        console.log(`${part} ${variant}: ${cpuMs.toFixed(2)} ms CPU, ${wallMs.toFixed(2)} ms wall per request`);
      }
    }
    const floor = median(samples.get('none')?.cpu ?? []);
    parts[part] = Object.fromEntries(
      [...samples].map(([variant, { cpu, wall }]) => [
        variant,
        {
          serverCpuMsPerRequest: { median: median(cpu), samples: cpu },
          wallMsPerRequest: { median: Number(median(wall).toFixed(2)), samples: wall.map((w) => Number(w.toFixed(2))) },
          cpuRatioToNone: Number((median(cpu) / floor).toFixed(2)),
        },
      ]),
    );
  }
  const result = {
    date: new Date().toISOString(),
    machine: {
      node: process.version,
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      loadAverage1m: { atStart: loadAtStart, atEnd: loadavg()[0] },
    },
    what:
      `server CPU (user + system, /proc, 10 ms ticks) per request, ${WARMUP} warm-up requests then ` +
      `${REQUESTS.model} GET /model of ${MODEL_BYTES} bytes or ${REQUESTS.message} POST /message of ` +
      `${MESSAGE_BYTES} bytes, one at a time; ${REPS} runs per variant, alternated`,
    parts,
  };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(RESULTS, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${RESULTS}`);
}

if (process.argv[2] === 'server') server(process.argv[3] as Part, process.argv[4] ?? 'none');
else await main();
