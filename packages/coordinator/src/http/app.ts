/**
 * The coordinator's HTTP API (protocol.md §1.2, architecture.md §4): `createApp(deps)`
 * builds the Hono app and never listens (architecture.md §4) — tests call
 * `app.request()`, `listen()` (node/listen.ts) serves it on Node.
 *
 * Participant routes: `GET /params`, `GET /sums`, `GET /seeds?pk=&sig=`,
 * `GET /model` (204 until available; a strong ETag, 304 to a matching
 * If-None-Match), `GET /phase?after=&wait_ms=[&until=round]` (a long poll for the next
 * phase), `POST /message` (202 accepted, 4xx `{code, message}` rejected).
 * Operations: `GET /health`, `GET /metrics` (only with a metrics port, else
 * 404), and the operator API under `/admin` (`hono/bearer-auth`):
 * `GET /admin/status`, `GET /admin/rounds`, `POST /admin/pause`,
 * `POST /admin/resume`, `PUT /admin/settings`.
 *
 * Web-standard: the runtime's parts come in as deps (the connection-info
 * helper for client addresses, rate-limit stores, metrics).
 */

import {
  decodeGlobalModel,
  fromBase64Url,
  isPetError,
  type PetCrypto,
  SEEDS_SO_FAR_HEADER,
  toBase64Url,
  verifySeedsRequest,
} from '@petfl/core';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import type { GetConnInfo } from 'hono/conninfo';
import { etag, RETAINED_304_HEADERS } from 'hono/etag';
import { addressKey } from '../admission/address-key.ts';
import { type Admission, admitEveryone } from '../admission/admission.ts';
import { type AdmittedEnv, admit } from '../admission/admit.ts';
import { boundBodiesInFlight } from '../admission/bodies-in-flight.ts';
import { memoryRateLimitStores, type RateLimitStores, rateLimit } from '../admission/rate-limit.ts';
import { type Clock, systemClock } from '../clock.ts';
import { CoordinatorError } from '../errors.ts';
import { type Logger, silentLogger } from '../logger.ts';
import type { CoordinatorMetrics } from '../metrics.ts';
import { type Settings, SettingsError } from '../settings.ts';
import type { Coordinator, CoordinatorEvents } from '../state-machine/coordinator.ts';
import { StoreError } from '../store/store-error.ts';
import { limitBody } from './body-limit.ts';
import { clientAddress } from './client-address.ts';
import { corsHeaders } from './cors.ts';
import { ERROR_STATUS, type ErrorCode } from './error-status.ts';
import { FailureLimiter } from './failure-limiter.ts';
import { securityHeaders } from './security-headers.ts';

export interface AppDeps {
  readonly coordinator: Coordinator;
  readonly settings: Settings;
  readonly crypto: PetCrypto;
  /** Serves `GET /metrics`; without it the route answers 404. */
  readonly metrics?: CoordinatorMetrics;
  /**
   * The hooks the coordinator was started with: the app reports there (`messageRejected`) the
   * messages it refuses before the coordinator sees them. The metrics' own hooks unless given.
   */
  readonly events?: CoordinatorEvents;
  /** The runtime's connection-info helper, for per-address limits; every client is 'unknown' without it. */
  readonly getConnInfo?: GetConnInfo;
  readonly logger?: Logger;
  /** Who may send messages (`createAdmission(settings.admission)`); required for `token` admission. */
  readonly admission?: Admission;
  /** Where rate-limit counters live; this process's memory unless given (Redis: `RedisRateLimitStores`). */
  readonly rateLimitStores?: RateLimitStores;
  /** Time for the admin failure window; the system clock unless given. */
  readonly clock?: Clock;
  /**
   * Reads a `POST /message` body into an array the coordinator then owns (it may move it to an
   * ingest worker): the runtime's own reader (Node: node/request-body.ts), or `arrayBuffer()`.
   */
  readonly readBody?: (c: Context) => Promise<Uint8Array>;
}

/** A body through the web API: hono's `arrayBuffer()` gives an ArrayBuffer of the request's own. */
const readWebBody = async (c: Context): Promise<Uint8Array> => new Uint8Array(await c.req.arrayBuffer());

/** The longest `GET /phase` long poll: under common proxies' idle timeouts. */
const MAX_PHASE_WAIT_MS = 30_000;
const BINARY = { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' };
/** A global model may be kept, but is checked with its ETag before every use: the next round replaces it. */
const MODEL = { 'content-type': 'application/octet-stream', 'cache-control': 'no-cache' };
/** What a 304 keeps besides RFC 9110's list: CORS, so that a cross-origin revalidation is still readable. */
const RETAINED_304 = [...RETAINED_304_HEADERS, 'access-control-allow-origin', 'access-control-expose-headers'];

/** 200 with a binary body, or 204 while the data is not available yet (protocol.md §1.2). */
function binaryOr204(c: Context, bytes: Uint8Array | undefined): Response {
  // Our encoders allocate their own ArrayBuffers, never SharedArrayBuffers.
  return bytes === undefined ? c.body(null, 204) : c.body(bytes as Uint8Array<ArrayBuffer>, 200, BINARY);
}

function problem(c: Context, code: ErrorCode, message: string, extra: object = {}): Response {
  return c.json({ code, message, ...extra }, ERROR_STATUS[code]);
}

/**
 * `hono/bearer-auth` for one token (`what`: admin, metrics). Its refusals are thrown as
 * CoordinatorError('unauthorized') rather than answered in its own plain text, so the app's one error
 * mapping answers them `{code, message}`; a missing or malformed header is refused like a wrong
 * token (401, not 400). `onFailure` hears of every refusal (the admin failure limit).
 *
 * SECURITY: bearerAuth compares the tokens and their SHA-256 digests in constant time (its
 * timingSafeEqual); tokens are never logged.
 */
function requireBearer(what: string, token: string, onFailure: (c: Context) => void = () => {}): MiddlewareHandler {
  const refuse = (c: Context): never => {
    onFailure(c);
    c.header('www-authenticate', `Bearer realm="petfl-${what}"`);
    throw new CoordinatorError('unauthorized', `${what}: expected the header Authorization: Bearer <${what} token>`);
  };
  return bearerAuth({
    token,
    realm: `petfl-${what}`,
    noAuthenticationHeader: { message: refuse },
    invalidAuthenticationHeader: { message: refuse },
    invalidToken: { message: refuse },
  });
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

export function createApp(deps: AppDeps): Hono {
  const { coordinator, settings, crypto, metrics, getConnInfo } = deps;
  const readBody = deps.readBody ?? readWebBody;
  const events = deps.events ?? metrics?.events ?? {};
  const log = deps.logger ?? silentLogger;
  const app = new Hono();
  app.use('*', securityHeaders());

  app.use(
    '*',
    corsHeaders({
      origins: settings.api.corsOrigins,
      allowMethods: ['GET', 'POST', 'PUT', 'OPTIONS'],
      allowHeaders: ['Content-Type', 'Authorization', 'If-None-Match'],
      exposeHeaders: ['ETag', SEEDS_SO_FAR_HEADER],
      maxAge: 600,
    }),
  );

  app.onError((error, c) => {
    if (isPetError(error)) return problem(c, error.code, error.message);
    if (error instanceof StoreError) {
      log.error({ err: error.message }, 'store unavailable');
      // A participant only needs to know it may retry: answered with the protocol's `unavailable`.
      return problem(c, 'unavailable', 'the coordinator store is unavailable; retry later');
    }
    if (error instanceof CoordinatorError) {
      return problem(c, error.code, error.message, error instanceof SettingsError ? { problems: error.problems } : {});
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
  // A refusal before the coordinator counts as a rejected message all the same (metrics).
  const refused = (code: 'not-admitted' | 'rate-limited' | 'busy') => () => events.messageRejected?.(code, 0);

  // Polls per client address, counted before a poll is held.
  app.use(
    '/phase',
    rateLimit({
      name: 'phase-ip',
      perMinute: settings.limits.phasePollsPerMinutePerIp,
      per: 'phase polls per client address',
      key: (c) => addressKey(clientAddress(c, getConnInfo)),
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
    // `until=round`: a later phase of `after`'s round is no change (protocol.md §1.2).
    const until = c.req.query('until');
    if (until !== undefined && until !== 'round') {
      const shown = until.length > 16 ? `${until.slice(0, 16)}…` : until;
      return problem(c, 'invalid-field', `phase until: expected 'round' or nothing, got '${shown}'`);
    }
    // At most maxPhaseWaiters polls are held (each holds a socket and a closure); beyond it a poll
    // is answered at once, as if wait_ms=0, and the participant polls again later.
    const full = coordinator.phaseWaiters() >= settings.api.maxPhaseWaiters;
    const token = await coordinator.waitForPhaseChange(after, full ? 0 : waitMs, c.req.raw.signal, until === 'round');
    // Shutting down: the connection is not kept alive, so the server's close() need not wait on it.
    const stopping = token.endsWith('.shutdown') ? { connection: 'close' } : {};
    return c.json({ token }, 200, { 'cache-control': 'no-store', ...stopping });
  });

  app.get('/sums', (c) => {
    return binaryOr204(c, coordinator.sumDictBytes());
  });

  app.get('/seeds', async (c) => {
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
      // A sum participant of the round that just ended asks late: not a forgery.
      const previous = coordinator.previousRoundKey();
      if (previous !== undefined && verifySeedsRequest(crypto, previous.coordinatorPk, key, signature)) {
        return problem(c, 'wrong-round', `seeds: the request is for round ${previous.roundId}, which has ended`);
      }
      return problem(c, 'bad-signature', 'seeds: sig is not the signature of pk over this round’s seeds request');
    }
    // so_far=1: while the update phase runs, the seeds accepted until now (ADR 0017).
    const soFar = c.req.query('so_far') === '1';
    const answer = await coordinator.updateSeedDict(pk, soFar);
    if (answer === 'unknown') {
      return problem(c, 'unknown-sum-participant', `seeds: ${pk} is not in the sum dictionary of this round`);
    }
    if (answer === undefined) return c.body(null, 204);
    events.seedDictionaryRead?.(answer.final ? 'final' : 'so-far');
    const which = soFar ? { [SEEDS_SO_FAR_HEADER]: answer.final ? 'final' : 'so-far' } : {};
    return c.body(answer.bytes as Uint8Array<ArrayBuffer>, 200, { ...BINARY, ...which });
  });

  // A strong ETag per global model (protocol.md §3.10): the round id its body names and a digest of
  // the body, computed once per model (the coordinator keeps one array per model). It depends on
  // the bytes alone, so every instance serving the same model gives the same tag (ADR 0008).
  // hono/etag answers 304 to a match.
  const etagOf = (bytes: Uint8Array): string =>
    `"${decodeGlobalModel(bytes).roundId}-${toBase64Url(crypto.hash(bytes).subarray(0, 18))}"`;
  let modelTag: { readonly bytes: Uint8Array; readonly etag: string } | undefined;
  const modelEtag = (bytes: Uint8Array): string => {
    if (modelTag?.bytes !== bytes) modelTag = { bytes, etag: etagOf(bytes) };
    return modelTag.etag;
  };
  app.get('/model', etag({ retainedHeaders: RETAINED_304 }), async (c) => {
    const round = c.req.query('round');
    if (round !== undefined) {
      // A kept round's model (a run's checkpoints, docs/learning.md §6): fixed once stored.
      if (!/^\d{1,10}$/.test(round) || Number(round) > 0xffff_ffff) {
        return problem(
          c,
          'invalid-field',
          `model round: expected a round id in 0..4294967295, got ${round.slice(0, 20)}`,
        );
      }
      const kept = await coordinator.modelOfRound(Number(round));
      if (kept === undefined) return problem(c, 'not-found', `model round: round ${round} has no kept global model`);
      return c.body(kept as Uint8Array<ArrayBuffer>, 200, { ...MODEL, etag: etagOf(kept) });
    }
    const bytes = coordinator.latestModelBytes();
    if (bytes === undefined) return c.body(null, 204);
    // Our encoders allocate their own ArrayBuffers, never SharedArrayBuffers.
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, { ...MODEL, etag: modelEtag(bytes) });
  });

  app.get('/model/best', etag({ retainedHeaders: RETAINED_304 }), async (c) => {
    const bytes = await coordinator.bestModel();
    if (bytes === undefined) return c.body(null, 204);
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, { ...MODEL, etag: etagOf(bytes) });
  });

  // A training run's layout and progress (docs/learning.md §2): participants build their vectors by it.
  app.get('/run', (c) => c.json({ run: coordinator.runInfo() }, 200, { 'cache-control': 'no-cache' }));

  // Cheap checks first (docs/security.md §4), none of which reads the body: the client address's
  // rate, admission (headers only), the subject's rate, then a slot among the bodies in flight.
  app.post(
    '/message',
    rateLimit({
      name: 'message-ip',
      perMinute: settings.limits.messagesPerMinutePerIp,
      per: 'messages per client address',
      key: (c) => addressKey(clientAddress(c, getConnInfo)),
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
    boundBodiesInFlight(settings.api.maxBodiesInFlight, {
      maxWaiting: settings.api.maxBodiesWaiting,
      onRefused: refused('busy'),
    }),
    limitBody({
      maxSize: settings.api.maxBodyBytes,
      onError: (c) => {
        events.messageRejected?.('body-too-large', Number(c.req.header('content-length') ?? 0));
        // The rest of the body is never read: the connection cannot carry another request.
        c.header('connection', 'close');
        return problem(c, 'body-too-large', `message: expected at most ${settings.api.maxBodyBytes} bytes`);
      },
    }),
    async (c) => {
      const body = await readBody(c);
      // The body is this request's own: the coordinator may move it to an ingest worker uncopied.
      const accepted = await coordinator.handleMessage(body, { subject: c.var.admitted.subject, handOver: true });
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

  if (metrics !== undefined) {
    if (settings.api.metricsToken !== '') app.use('/metrics', requireBearer('metrics', settings.api.metricsToken));
    app.get('/metrics', async (c) => {
      const { body, contentType } = await metrics.render();
      return c.body(body, 200, { 'content-type': contentType });
    });
  }

  // ---- operator API ----

  const admin = new Hono();
  const clock = deps.clock ?? systemClock;
  const adminFailures = new FailureLimiter(settings.api.adminFailuresPerMinute, () => clock.now());
  const adminAddress = (c: Context) => addressKey(clientAddress(c, getConnInfo));
  admin.use('*', async (c, next) => {
    // An address that failed too often is refused before its token is even looked at: guessing
    // costs a minute per adminFailuresPerMinute tries (docs/security.md §4).
    const verdict = adminFailures.check(adminAddress(c));
    if (verdict.kind === 'limited') {
      const seconds = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
      c.header('retry-after', String(seconds));
      return problem(c, 'rate-limited', `admin: too many failed authentications; retry in ${seconds} s`);
    }
    await next();
  });
  admin.use(
    '*',
    requireBearer('admin', settings.api.adminToken, (c) => adminFailures.fail(adminAddress(c))),
  );
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
  admin.get('/run', async (c) => c.json(await coordinator.runReport()));
  admin.post('/run/restore', async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return problem(c, 'invalid-field', 'run restore: expected a JSON object { "round": <round id> }');
    }
    const round = (body as { round?: unknown } | null)?.round;
    if (typeof round !== 'number' || !Number.isInteger(round) || round < 0 || round > 0xffff_ffff) {
      return problem(
        c,
        'invalid-field',
        `run restore: expected { "round": <round id> }, got ${JSON.stringify(body)?.slice(0, 80)}`,
      );
    }
    return c.json(await coordinator.restoreRun(round));
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
