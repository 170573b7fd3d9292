/**
 * BENCHMARK ONLY: plain federated averaging, no privacy — the baseline that
 * `npm run bench:e2e` times petfl's secure aggregation against. Participant pages in
 * `mode=plain` (apps/web/test-hooks/plain.ts) long-poll `GET /plain/round?after=&wait_ms=`
 * (as the SDK long-polls `GET /phase`, so neither side waits on a poll interval), fetch
 * `GET /plain/model`, train and `POST /plain/update?round=R&scalar=S` with their model
 * as little-endian float32 in the clear. A round is one update phase judged by the
 * coordinator's own `judgePhase` with the same count/time settings as the secure
 * run's update phase; at its end the server publishes Σ sᵢwᵢ / Σ sᵢ (float64, served as
 * float32) and opens the next round at once, as the coordinator does after unmask.
 * `GET /plain/history` answers its finished rounds (`{ rounds }`, oldest first), for a bench
 * that runs it in a process of its own (plain-coordinator-main.ts).
 */

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { judgePhase } from '@petfl/coordinator';
import type { PhaseConfig } from './coordinator.ts';

export interface PlainRoundSummary {
  readonly roundId: number;
  readonly outcome: 'completed' | 'failed';
  readonly failureReason?: string;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly updates: number;
  /** Request body bytes of the accepted updates. */
  readonly bytesIn: number;
}

export interface PlainCoordinator {
  readonly url: string;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024 * 1024;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) req.destroy(new Error(`body over ${MAX_BODY} bytes`));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startPlainCoordinator(modelLength: number, update: PhaseConfig): Promise<PlainCoordinator> {
  const settings = { count: { min: update.min, max: update.max }, time: { minMs: update.minMs, maxMs: update.maxMs } };
  const history: PlainRoundSummary[] = [];
  let roundId = 0;
  let startedAt = 0;
  let sum = new Float64Array(modelLength);
  let scalars = 0;
  let updates = 0;
  let bytesIn = 0;
  let model: { roundId: number; bytes: Buffer } | null = null;
  let timer: NodeJS.Timeout | undefined;
  const waiting = new Set<() => void>();

  const open = () => {
    roundId += 1;
    startedAt = Date.now();
    sum = new Float64Array(modelLength);
    scalars = 0;
    updates = 0;
    bytesIn = 0;
    for (const wake of [...waiting]) wake();
    judge();
  };
  const judge = () => {
    clearTimeout(timer);
    const verdict = judgePhase('update', settings, updates, Date.now() - startedAt);
    if (verdict.kind === 'open') {
      timer = setTimeout(judge, Math.max(0, startedAt + verdict.wakeAtMs - Date.now()));
      return;
    }
    const base = { roundId, startedAt, endedAt: Date.now(), updates, bytesIn };
    if (verdict.kind === 'fail') {
      history.push({ ...base, outcome: 'failed', failureReason: verdict.reason });
    } else {
      const average = new Float32Array(modelLength);
      for (let i = 0; i < modelLength; i++) average[i] = (sum[i] as number) / scalars;
      model = { roundId, bytes: Buffer.from(average.buffer) };
      history.push({ ...base, outcome: 'completed' });
    }
    open();
  };

  const reply = (res: ServerResponse, status: number, body?: string | Buffer, headers: Record<string, string> = {}) => {
    res.writeHead(status, {
      'access-control-allow-origin': '*',
      'access-control-allow-headers': 'content-type',
      'access-control-expose-headers': 'x-round-id',
      ...headers,
    });
    res.end(body);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'OPTIONS') return reply(res, 204);
    if (req.method === 'GET' && url.pathname === '/plain/round') {
      // Held while the open round is still `after`, up to wait_ms (at most 30 s).
      const after = Number(url.searchParams.get('after') ?? Number.NaN);
      const waitMs = Math.min(30_000, Math.max(0, Number(url.searchParams.get('wait_ms') ?? 0) || 0));
      const answer = () => reply(res, 200, JSON.stringify({ roundId }), { 'content-type': 'application/json' });
      if (after !== roundId || waitMs === 0) return answer();
      const done = () => {
        waiting.delete(done);
        clearTimeout(expiry);
        if (!res.writableEnded) answer();
      };
      const expiry = setTimeout(done, waitMs);
      waiting.add(done);
      req.on('close', done);
      return;
    }
    if (req.method === 'GET' && url.pathname === '/plain/history') {
      return reply(res, 200, JSON.stringify({ rounds: history }), { 'content-type': 'application/json' });
    }
    if (req.method === 'GET' && url.pathname === '/plain/model') {
      if (model === null) return reply(res, 204);
      return reply(res, 200, model.bytes, {
        'content-type': 'application/octet-stream',
        'x-round-id': String(model.roundId),
      });
    }
    if (req.method === 'POST' && url.pathname === '/plain/update') {
      readBody(req).then(
        (body) => {
          const round = Number(url.searchParams.get('round'));
          const scalar = Number(url.searchParams.get('scalar'));
          if (round !== roundId) return reply(res, 409, `round ${round} is not the open round ${roundId}`);
          if (!(scalar > 0) || body.length !== modelLength * 4) {
            return reply(
              res,
              400,
              `expected scalar > 0 and ${modelLength * 4} bytes, got ${scalar} and ${body.length}`,
            );
          }
          const weights = new Float32Array(new Uint8Array(body).buffer); // a copy: aligned for float32
          for (let i = 0; i < modelLength; i++) sum[i] = (sum[i] as number) + scalar * (weights[i] as number);
          scalars += scalar;
          updates += 1;
          bytesIn += body.length;
          reply(res, 202);
          judge();
        },
        (error: unknown) => reply(res, 413, String(error)),
      );
      return;
    }
    reply(res, 404);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  open();
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      clearTimeout(timer);
      for (const wake of [...waiting]) wake();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
