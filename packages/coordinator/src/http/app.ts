/**
 * The coordinator's HTTP API (protocol.md §1.2, DESIGN §4): `createApp(deps)`
 * builds the Hono app and never listens (CONVENTIONS §12) — tests call
 * `app.request()`, `node.ts` serves it.
 *
 * Participant routes: `GET /params`, `GET /sums`, `GET /seeds?pk=`,
 * `GET /model` (204 until available), `GET /phase?after=&wait_ms=` (a long
 * poll for the next phase), `POST /message` (202 accepted, 4xx
 * `{code, message}` rejected). Operations: `GET /health`, `GET /metrics`, and
 * the operator API under `/admin` (bearer token): `GET /admin/status`,
 * `GET /admin/rounds`, `POST /admin/pause`, `POST /admin/resume`,
 * `PUT /admin/settings`.
 */

import { fromBase64Url, isPetError, type PetCrypto, type PetErrorCode } from '@petfl/core';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { type Logger, silentLogger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { type Settings, SettingsError } from '../settings.ts';
import type { Coordinator } from '../state-machine/coordinator.ts';
import { StoreError } from '../store/store-error.ts';
import { ERROR_STATUS } from './error-status.ts';

export interface AppDeps {
  readonly coordinator: Coordinator;
  readonly settings: Settings;
  readonly crypto: PetCrypto;
  readonly metrics: Metrics;
  readonly logger?: Logger;
}

/** The longest `GET /phase` long poll: under common proxies' idle timeouts. */
const MAX_PHASE_WAIT_MS = 30_000;
const BINARY = { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' };

/** 200 with a binary body, or 204 while the data is not available yet (protocol.md §1.2). */
function binaryOr204(c: Context, bytes: Uint8Array | undefined): Response {
  // Our encoders allocate their own ArrayBuffers, never SharedArrayBuffers.
  return bytes === undefined ? c.body(null, 204) : c.body(bytes as Uint8Array<ArrayBuffer>, 200, BINARY);
}

function problem(c: Context, code: PetErrorCode, message: string, extra: object = {}): Response {
  return c.json({ code, message, ...extra }, ERROR_STATUS[code]);
}

/** Constant-time token check: compares SHA-256 digests, so neither length nor prefix leaks. */
function tokenMatches(crypto: PetCrypto, given: string, expected: string): boolean {
  const enc = new TextEncoder();
  const a = crypto.hash(enc.encode(given));
  const b = crypto.hash(enc.encode(expected));
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

export function createApp(deps: AppDeps): Hono {
  const { coordinator, settings, crypto, metrics } = deps;
  const log = deps.logger ?? silentLogger;
  const app = new Hono();

  const origins = settings.api.corsOrigins;
  app.use(
    '*',
    cors({
      origin: origins.includes('*') ? '*' : [...origins],
      allowMethods: ['GET', 'POST', 'PUT', 'OPTIONS'],
      allowHeaders: ['Content-Type', 'Authorization'],
      maxAge: 600,
    }),
  );

  app.onError((error, c) => {
    if (isPetError(error)) return problem(c, error.code, error.message);
    if (error instanceof SettingsError) {
      return problem(c, 'invalid-settings', error.message, { problems: error.problems });
    }
    if (error instanceof StoreError) {
      log.error({ err: error.message }, 'store unavailable');
      return problem(c, 'unavailable', 'the coordinator store is unavailable; retry later');
    }
    log.error({ err: error instanceof Error ? error.message : String(error) }, 'internal error');
    return c.json({ code: 'internal', message: 'internal error' }, 500);
  });
  app.notFound((c) => problem(c, 'not-found', `no route ${c.req.method} ${c.req.path}`));

  // ---- participants ----

  app.get('/params', (c) => {
    const params = coordinator.paramsJson();
    return params === undefined ? c.body(null, 204) : c.json(params, 200, { 'cache-control': 'no-store' });
  });

  app.get('/phase', async (c) => {
    const after = c.req.query('after') ?? '';
    const raw = c.req.query('wait_ms') ?? '0';
    const waitMs = Number(raw);
    if (!/^\d+$/.test(raw) || waitMs > MAX_PHASE_WAIT_MS) {
      const shown = raw.length > 16 ? `${raw.slice(0, 16)}…` : raw;
      return problem(c, 'invalid-field', `phase wait_ms: expected an integer in 0..${MAX_PHASE_WAIT_MS}, got ${shown}`);
    }
    if (after.length > 64) return problem(c, 'invalid-field', `phase after: expected a token of at most 64 characters`);
    const token = await coordinator.waitForPhaseChange(after, waitMs, c.req.raw.signal);
    // Shutting down: the connection is not kept alive, so the server's close() need not wait on it.
    const stopping = token.endsWith('.shutdown') ? { connection: 'close' } : {};
    return c.json({ token }, 200, { 'cache-control': 'no-store', ...stopping });
  });

  app.get('/sums', (c) => {
    return binaryOr204(c, coordinator.sumDictBytes());
  });

  app.get('/seeds', (c) => {
    const pk = c.req.query('pk');
    if (pk === undefined) return problem(c, 'invalid-field', 'seeds: expected a query parameter pk');
    const key = fromBase64Url(pk, 'seeds pk');
    if (key.length !== 32) {
      return problem(c, 'invalid-field', `seeds pk: expected 32 bytes of base64url, got ${key.length}`);
    }
    const bytes = coordinator.updateSeedDict(pk);
    if (bytes === 'unknown') {
      return problem(c, 'unknown-sum-participant', `seeds: ${pk} is not in the sum dictionary of this round`);
    }
    return binaryOr204(c, bytes);
  });

  app.get('/model', (c) => binaryOr204(c, coordinator.latestModelBytes()));

  app.post(
    '/message',
    bodyLimit({
      maxSize: settings.api.maxBodyBytes,
      onError: (c) => {
        metrics.rejectedBeforePipeline('body-too-large', Number(c.req.header('content-length') ?? 0));
        return problem(c, 'body-too-large', `message: expected at most ${settings.api.maxBodyBytes} bytes`);
      },
    }),
    async (c) => {
      const body = new Uint8Array(await c.req.arrayBuffer());
      const accepted = await coordinator.handleMessage(body);
      return c.json({ accepted: accepted.kind === 'chunk' ? 'chunk' : accepted.tag }, 202);
    },
  );

  // ---- operations ----

  app.get('/health', (c) => {
    const { phase, roundId } = coordinator.status();
    return c.json(
      { status: phase === 'shutdown' ? 'stopping' : 'ok', phase, roundId },
      phase === 'shutdown' ? 503 : 200,
    );
  });

  app.get('/metrics', async (c) =>
    c.body(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType }),
  );

  // ---- operator API ----

  const admin = new Hono();
  admin.use('*', async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer (.+)$/.exec(header);
    // SECURITY: the admin token is compared in constant time and never logged.
    if (match === null || !tokenMatches(crypto, match[1] as string, settings.api.adminToken)) {
      c.header('www-authenticate', 'Bearer realm="petfl-admin"');
      return problem(c, 'unauthorized', 'admin: expected the header Authorization: Bearer <admin token>');
    }
    await next();
  });
  admin.get('/status', (c) => c.json(coordinator.status()));
  admin.get('/rounds', async (c) => {
    const raw = c.req.query('limit') ?? '100';
    const limit = Number(raw);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      return problem(c, 'invalid-field', `rounds limit: expected an integer in 1..1000, got ${raw}`);
    }
    return c.json({ rounds: await coordinator.history(limit) });
  });
  admin.post('/pause', async (c) => {
    await coordinator.pause();
    return c.json(coordinator.status());
  });
  admin.post('/resume', async (c) => {
    await coordinator.resume();
    return c.json(coordinator.status());
  });
  admin.put('/settings', async (c) => {
    let change: unknown;
    try {
      change = await c.req.json();
    } catch {
      return problem(c, 'invalid-settings', 'settings: expected a JSON object');
    }
    const next = await coordinator.changeSettings(change);
    return c.json({ next });
  });
  app.route('/admin', admin);

  return app;
}
