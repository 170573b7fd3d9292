/**
 * The coordinator's HTTP API (protocol.md §1.2, DESIGN §4): `createApp(deps)`
 * builds the Hono app and never listens (CONVENTIONS §12) — tests call
 * `app.request()`, `node.ts` serves it.
 *
 * Participant routes: `GET /params`, `GET /sums`, `GET /seeds?pk=&sig=`,
 * `GET /model` (204 until available), `GET /phase?after=&wait_ms=` (a long
 * poll for the next phase), `POST /message` (202 accepted, 4xx
 * `{code, message}` rejected). Operations: `GET /health`, `GET /metrics`, and
 * the operator API under `/admin` (bearer token): `GET /admin/status`,
 * `GET /admin/rounds`, `POST /admin/pause`, `POST /admin/resume`,
 * `PUT /admin/settings`.
 */

import { fromBase64Url, isPetError, type PetCrypto, type PetErrorCode, verifySeedsRequest } from '@petfl/core';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { addressKey } from '../admission/address-key.ts';
import { type Admission, admitEveryone } from '../admission/admission.ts';
import { type AdmittedEnv, admit } from '../admission/admit.ts';
import { boundBodiesInFlight } from '../admission/bodies-in-flight.ts';
import { memoryRateLimitStores, type RateLimitStores, rateLimit } from '../admission/rate-limit.ts';
import { type Clock, systemClock } from '../clock.ts';
import { type Logger, silentLogger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { type Settings, SettingsError } from '../settings.ts';
import type { Coordinator } from '../state-machine/coordinator.ts';
import { StoreError } from '../store/store-error.ts';
import { clientAddress } from './client-address.ts';
import { ERROR_STATUS } from './error-status.ts';
import { FailureLimiter } from './failure-limiter.ts';
import { securityHeaders } from './security-headers.ts';

export interface AppDeps {
  readonly coordinator: Coordinator;
  readonly settings: Settings;
  readonly crypto: PetCrypto;
  readonly metrics: Metrics;
  readonly logger?: Logger;
  /** Who may send messages (`createAdmission(settings.admission)`); required for `token` admission. */
  readonly admission?: Admission;
  /** Where rate-limit counters live; this process's memory unless given (Redis: `RedisRateLimitStores`). */
  readonly rateLimitStores?: RateLimitStores;
  /** Time for the admin failure window; the system clock unless given. */
  readonly clock?: Clock;
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

/** A 64-byte signature from base64url text, or undefined when absent or malformed. */
function signatureOf(text: string | undefined): Uint8Array | undefined {
  if (text === undefined || text.length !== 86) return undefined;
  try {
    return fromBase64Url(text, 'seeds sig');
  } catch {
    return undefined;
  }
}

/** The bearer token of the Authorization header, or '' (which never matches: tokens are non-empty). */
function bearer(c: Context): string {
  const match = /^Bearer (.+)$/.exec(c.req.header('authorization') ?? '');
  return match === null ? '' : (match[1] as string);
}

export function createApp(deps: AppDeps): Hono {
  const { coordinator, settings, crypto, metrics } = deps;
  const log = deps.logger ?? silentLogger;
  const app = new Hono();
  app.use('*', securityHeaders());

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

  // Admission and rate limits (docs/security.md §2): built once, shared by the routes below.
  if (deps.admission === undefined && settings.admission.kind === 'token') {
    throw new Error('createApp: admission.kind = "token" needs deps.admission (createAdmission(settings.admission))');
  }
  const admission = deps.admission ?? admitEveryone;
  const rateLimitStores = deps.rateLimitStores ?? memoryRateLimitStores;
  const refused = (code: 'not-admitted' | 'rate-limited' | 'busy') => () => metrics.rejectedBeforePipeline(code, 0);

  // Polls per client address, counted before a poll is held.
  app.use(
    '/phase',
    rateLimit({
      name: 'phase-ip',
      perMinute: settings.limits.phasePollsPerMinutePerIp,
      per: 'phase polls per client address',
      key: (c) => addressKey(clientAddress(c)),
      stores: rateLimitStores,
    }),
  );
  app.get('/phase', async (c) => {
    const after = c.req.query('after') ?? '';
    const raw = c.req.query('wait_ms') ?? '0';
    const waitMs = Number(raw);
    if (!/^\d+$/.test(raw) || waitMs > MAX_PHASE_WAIT_MS) {
      const shown = raw.length > 16 ? `${raw.slice(0, 16)}…` : raw;
      return problem(c, 'invalid-field', `phase wait_ms: expected an integer in 0..${MAX_PHASE_WAIT_MS}, got ${shown}`);
    }
    if (after.length > 64) return problem(c, 'invalid-field', `phase after: expected a token of at most 64 characters`);
    // At most maxPhaseWaiters polls are held (each holds a socket and a closure); beyond it a poll
    // is answered at once, as if wait_ms=0, and the participant polls again later.
    const full = coordinator.phaseWaiters() >= settings.api.maxPhaseWaiters;
    const token = await coordinator.waitForPhaseChange(after, full ? 0 : waitMs, c.req.raw.signal);
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
    // Only the holder of the identity key reads (or probes) its column (protocol.md §1.2): the
    // signature is checked before anything about the sum dictionary is told.
    const signature = signatureOf(c.req.query('sig'));
    if (signature === undefined) {
      return problem(c, 'bad-signature', 'seeds: expected sig, a 64-byte Ed25519 signature in base64url');
    }
    const params = coordinator.paramsJson() as { coordinatorPk?: string } | undefined;
    if (params?.coordinatorPk === undefined) return c.body(null, 204);
    const roundKey = fromBase64Url(params.coordinatorPk, 'round coordinator pk');
    if (!verifySeedsRequest(crypto, roundKey, key, signature)) {
      return problem(c, 'bad-signature', 'seeds: sig is not the signature of pk over this round’s seeds request');
    }
    const bytes = coordinator.updateSeedDict(pk);
    if (bytes === 'unknown') {
      return problem(c, 'unknown-sum-participant', `seeds: ${pk} is not in the sum dictionary of this round`);
    }
    return binaryOr204(c, bytes);
  });

  app.get('/model', (c) => binaryOr204(c, coordinator.latestModelBytes()));

  // Cheap checks first (docs/security.md §4), none of which reads the body: the client address's
  // rate, admission (headers only), the subject's rate, then a slot among the bodies in flight.
  app.post(
    '/message',
    rateLimit({
      name: 'message-ip',
      perMinute: settings.limits.messagesPerMinutePerIp,
      per: 'messages per client address',
      key: (c) => addressKey(clientAddress(c)),
      stores: rateLimitStores,
      closeConnection: true,
      onRefused: refused('rate-limited'),
    }),
    admit(admission, {
      onRefused: refused('not-admitted'),
      onUnavailable: (reason) => log.error({ err: reason }, 'admission could not decide'),
    }),
    rateLimit<AdmittedEnv>({
      name: 'message-subject',
      perMinute: settings.limits.messagesPerMinutePerSubject,
      per: 'messages per admitted subject',
      key: (c) => c.var.admitted.subject,
      stores: rateLimitStores,
      closeConnection: true,
      onRefused: refused('rate-limited'),
    }),
    boundBodiesInFlight(settings.api.maxBodiesInFlight, { onRefused: refused('busy') }),
    bodyLimit({
      maxSize: settings.api.maxBodyBytes,
      onError: (c) => {
        metrics.rejectedBeforePipeline('body-too-large', Number(c.req.header('content-length') ?? 0));
        // The rest of the body is never read: the connection cannot carry another request.
        c.header('connection', 'close');
        return problem(c, 'body-too-large', `message: expected at most ${settings.api.maxBodyBytes} bytes`);
      },
    }),
    async (c) => {
      const body = new Uint8Array(await c.req.arrayBuffer());
      const accepted = await coordinator.handleMessage(body, { subject: c.var.admitted.subject });
      return c.json({ accepted: accepted.kind === 'chunk' ? 'chunk' : accepted.tag }, 202);
    },
  );

  // ---- operations ----

  app.get('/health', async (c) => {
    const { phase, roundId } = coordinator.status();
    if (phase === 'shutdown') return c.json({ status: 'stopping', phase, roundId, store: 'unknown' }, 503);
    // Not ready while the store does not answer: a load balancer sends participants elsewhere.
    const store = await coordinator.storeHealth();
    if (!store.ok) {
      log.warn({ err: store.reason }, 'health: the store does not answer');
      return c.json({ status: 'unavailable', phase, roundId, store: 'unreachable' }, 503);
    }
    return c.json({ status: 'ok', phase, roundId, store: 'ok' }, 200);
  });

  app.get('/metrics', async (c) => {
    // SECURITY: the metrics token (when set) is compared in constant time and never logged.
    if (settings.api.metricsToken !== '' && !tokenMatches(crypto, bearer(c), settings.api.metricsToken)) {
      c.header('www-authenticate', 'Bearer realm="petfl-metrics"');
      return problem(c, 'unauthorized', 'metrics: expected the header Authorization: Bearer <metrics token>');
    }
    return c.body(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType });
  });

  // ---- operator API ----

  const admin = new Hono();
  const clock = deps.clock ?? systemClock;
  const adminFailures = new FailureLimiter(settings.api.adminFailuresPerMinute, () => clock.now());
  admin.use('*', async (c, next) => {
    // An address that failed too often is refused before its token is even looked at: guessing
    // costs a minute per adminFailuresPerMinute tries (docs/security.md §4).
    const address = addressKey(clientAddress(c));
    const verdict = adminFailures.check(address);
    if (verdict.kind === 'limited') {
      const seconds = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
      c.header('retry-after', String(seconds));
      return problem(c, 'rate-limited', `admin: too many failed authentications; retry in ${seconds} s`);
    }
    // SECURITY: the admin token is compared in constant time and never logged.
    if (!tokenMatches(crypto, bearer(c), settings.api.adminToken)) {
      adminFailures.fail(address);
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
