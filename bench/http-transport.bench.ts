/**
 * What a participant's HTTP requests cost the participant, by transport (ADR 0015): Node's own
 * `fetch` (undici) against the SDK's `node:http` transport (`nodeHttpFetch`, its default on
 * Node.js). A server process answers on loopback as the coordinator's routes do in size; this
 * process sends the requests one at a time, through each transport in turn, and measures its own
 * CPU (`process.cpuUsage`, user + system) and the wall time per request. The server's CPU is not
 * counted: it is the same for both.
 *
 * Requests: `GET /params` (a 300-byte JSON answer), `GET /model` of 10⁵ and 10⁶ f32 weights
 * (400 KB, 4 MB), `POST /message` of an Update of 10⁵ weights (640 KB) and of one 1 MiB chunk.
 * Each body is read as the client reads it (text, or arrayBuffer). The transports alternate over
 * REPS runs; medians are reported, with undici ÷ node:http.
 *
 *   npm run bench:transport   → bench/results/http-transport.json
 */

import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import type { FetchLike } from '../packages/sdk/src/client/http-client.ts';
import { nodeHttpFetch } from '../packages/sdk/src/client/node-http-fetch.ts';

const RESULTS = 'bench/results/http-transport.json';
const REPS = 3;
const WARMUP = 30;

const SERVER = `
const http = require('node:http');
const json = JSON.stringify({ roundId: 1, coordinatorPk: 'x'.repeat(43), seed: 'y'.repeat(43), padding: 'z'.repeat(150) });
const models = { '/model-100k': Buffer.alloc(400_012, 1), '/model-1m': Buffer.alloc(4_000_012, 1) };
http.createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => {
    if (req.method === 'POST') { res.writeHead(202, { 'content-type': 'application/json' }); res.end('{"accepted":"update"}'); return; }
    const model = models[req.url];
    if (model !== undefined) { res.writeHead(200, { 'content-type': 'application/octet-stream', etag: '"1-a"' }); res.end(model); return; }
    res.writeHead(200, { 'content-type': 'application/json' }); res.end(json);
  });
}).listen(0, '127.0.0.1', function () { console.log(this.address().port); });
`;

interface Case {
  readonly name: string;
  readonly requests: number;
  readonly go: (fetch: FetchLike) => Promise<unknown>;
}

function cases(base: string): Case[] {
  const update = new Uint8Array(640_000).fill(3);
  const chunk = new Uint8Array(1024 * 1024).fill(5);
  const post = (body: Uint8Array) => (fetch: FetchLike) =>
    fetch(`${base}/message`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body,
    }).then((r) => r.text());
  return [
    { name: 'GET /params (300 B JSON)', requests: 2000, go: (f) => f(`${base}/params`).then((r) => r.text()) },
    {
      name: 'GET /model 10^5 f32 (400 KB)',
      requests: 400,
      go: (f) => f(`${base}/model-100k`).then((r) => r.arrayBuffer()),
    },
    { name: 'GET /model 10^6 f32 (4 MB)', requests: 60, go: (f) => f(`${base}/model-1m`).then((r) => r.arrayBuffer()) },
    { name: 'POST /message 640 KB', requests: 400, go: post(update) },
    { name: 'POST /message 1 MiB chunk', requests: 300, go: post(chunk) },
  ];
}

async function measure(c: Case, fetch: FetchLike): Promise<{ cpuMs: number; wallMs: number }> {
  for (let i = 0; i < WARMUP; i++) await c.go(fetch);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < c.requests; i++) await c.go(fetch);
  const cpu = process.cpuUsage(cpu0);
  return { cpuMs: (cpu.user + cpu.system) / 1000 / c.requests, wallMs: (performance.now() - t0) / c.requests };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

const node = nodeHttpFetch();
if (node === undefined) throw new Error('this is Node.js: the node:http transport must load');
const transports: Record<string, FetchLike> = { undici: fetch as FetchLike, 'node:http': node };

const server = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
try {
  const port = await new Promise<string>((resolve) =>
    createInterface({ input: server.stdout as NodeJS.ReadableStream }).once('line', resolve),
  );
  const base = `http://127.0.0.1:${port}`;
  const results: Record<string, unknown> = {};
  for (const c of cases(base)) {
    const runs: Record<string, { cpuMs: number[]; wallMs: number[] }> = {};
    for (let rep = 0; rep < REPS; rep++) {
      for (const [name, fetch] of Object.entries(transports)) {
        const m = await measure(c, fetch);
        runs[name] ??= { cpuMs: [], wallMs: [] };
        runs[name].cpuMs.push(m.cpuMs);
        runs[name].wallMs.push(m.wallMs);
      }
    }
    const summary = Object.fromEntries(
      Object.entries(runs).map(([name, r]) => [
        name,
        { cpuMsPerRequest: r3(median(r.cpuMs)), wallMsPerRequest: r3(median(r.wallMs)) },
      ]),
    );
    const undici = runs['undici'] as { cpuMs: number[] };
    const nodeRuns = runs['node:http'] as { cpuMs: number[] };
    results[c.name] = { ...summary, cpuUndiciOverNodeHttp: r3(median(undici.cpuMs) / median(nodeRuns.cpuMs)) };
    console.log(c.name, JSON.stringify(results[c.name]));
  }
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(
    RESULTS,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, loadavg: loadavg().map(r3), node: process.version },
        reps: REPS,
        note: "the client's own CPU per request (user + system), median of REPS runs; the server runs in another process",
        results,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`wrote ${RESULTS}`);
} finally {
  server.kill();
}
