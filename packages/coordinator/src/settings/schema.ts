/**
 * The coordinator's settings, described once as Valibot schemas: the file's shape (TOML tables, snake_case keys) on the way in,
 * the program's `Settings` (camelCase) on the way out, and the types inferred
 * from them. Every default is in `DEFAULT_SETTINGS_TOML` (../settings.ts).
 *
 * Two tables' limits depend on settings outside them, so their schemas are
 * built from a `SettingsContext`: `pet` (the safe minimum counts, unless
 * `safety.allow_unsafe_small_rounds`; the model cap of the mask config) and
 * `safety` (the scalar bound of the mask config).
 */

import {
  BOUND_TYPES,
  DATA_TYPES,
  GROUP_TYPES,
  type MaskConfig,
  MODEL_TYPES,
  maskedLength,
  maskParams,
  type VectorLayout,
  validateVectorLayout,
} from '@petfl/core';
import * as v from 'valibot';
import { runRoundPrivacy } from '../run/round-privacy.ts';
import {
  DEFAULT_STRATEGY_SETTINGS,
  STRATEGY_NAMES,
  type StrategyName,
  type StrategySettings,
  strategySettingsProblems,
} from '../run/strategy/strategy.ts';
import {
  flag,
  int,
  isInteger,
  nonEmptyText,
  num,
  oneOf,
  rule,
  setting,
  show,
  table,
  text,
  textList,
} from './fields.ts';

/** The least sum, update and sum2 count.min of a meaningful round (docs/security.md §1). */
export const SAFE_MIN_COUNT = 3;

/** What the `pet` and `safety` tables are checked against outside them. */
export interface SettingsContext {
  /** `safety.allow_unsafe_small_rounds`: count.min may go below SAFE_MIN_COUNT. */
  readonly allowUnsafeSmallRounds: boolean;
  /** The mask config, when it is valid: it caps `pet.update.count.max` and `safety.scalar_max`. */
  readonly mask: MaskConfig | undefined;
}

const MS = int(1, 2 ** 31 - 1);

/** The most ingest worker threads one coordinator process may run. */
export const MAX_INGEST_WORKERS = 256;

/** `api.ingest_workers`: "auto", or a count (from the environment, its digits). */
const ingestWorkers = v.pipe(
  setting<'auto' | number | string>(
    `"auto" or an integer in 0..${MAX_INGEST_WORKERS}`,
    (value) =>
      value === 'auto' ||
      isInteger(0, MAX_INGEST_WORKERS)(value) ||
      (typeof value === 'string' && /^\d{1,3}$/.test(value) && Number(value) <= MAX_INGEST_WORKERS),
  ),
  v.transform((value): 'auto' | number => (value === 'auto' ? 'auto' : Number(value))),
);

/** RFC 6750 bearer-token characters, as hono/bearer-auth accepts them. */
const BEARER_TOKEN = /^[A-Za-z0-9._~+/-]+=*$/;
// SECURITY: a token is a secret; its problem never shows the value.
const bearerToken = (optional: boolean) =>
  v.custom<string>(
    (value) => typeof value === 'string' && ((optional && value === '') || BEARER_TOKEN.test(value)),
    `expected ${optional ? '"" or ' : ''}a bearer token of letters, digits and -._~+/ (then = padding), got another value (not shown: it is a secret)`,
  );

// ---- api ------------------------------------------------------------------------------------

const apiSchema = v.pipe(
  table({
    port: int(0, 65535),
    admin_token: bearerToken(false),
    metrics_token: bearerToken(true),
    cors_origins: textList,
    max_body_bytes: int(1024, 2 ** 31 - 1),
    max_bodies_in_flight: int(1, 10_000),
    max_bodies_waiting: int(0, 1_000_000),
    ingest_workers: ingestWorkers,
    heap_growing_percent: int(0, 1000),
    max_phase_waiters: int(0, 1_000_000),
    headers_timeout_ms: MS,
    request_timeout_ms: MS,
    keep_alive_timeout_ms: MS,
    max_connections: int(1, 1_000_000),
    admin_failures_per_minute: int(1, 1_000_000),
  }),
  rule(
    [['headers_timeout_ms'], ['request_timeout_ms']],
    (api) =>
      api.headers_timeout_ms > api.request_timeout_ms
        ? `${api.headers_timeout_ms} exceeds api.request_timeout_ms ${api.request_timeout_ms}`
        : undefined,
    ['headers_timeout_ms'],
  ),
  v.transform(
    (api) =>
      ({
        port: api.port,
        // SECURITY: the operator token guards /admin; never logged.
        adminToken: api.admin_token,
        // SECURITY: guards GET /metrics when non-empty; never logged.
        metricsToken: api.metrics_token,
        corsOrigins: api.cors_origins,
        maxBodyBytes: api.max_body_bytes,
        /** `POST /message` bodies read or processed at once; beyond it a request waits, then 503 busy. */
        maxBodiesInFlight: api.max_bodies_in_flight,
        /** `POST /message` requests that wait (up to 1 s, bodies unread) for a slot before 503 busy. */
        maxBodiesWaiting: api.max_bodies_waiting,
        /**
         * Worker threads that open, verify and decode messages (Node: node/ingest-pool.ts); 0: the
         * coordinator's own thread; "auto": one fewer than the cores, at most maxBodiesInFlight.
         */
        ingestWorkers: api.ingest_workers,
        /**
         * V8's `--heap-growing-percent` that the CLI sets at start-up (node/v8-heap.ts); 0: V8's own
         * adaptive choice. Not read by `listen()` or the apps: an embedding owns its process's flags.
         */
        heapGrowingPercent: api.heap_growing_percent,
        /** Held `GET /phase` long polls; beyond it a poll is answered at once. */
        maxPhaseWaiters: api.max_phase_waiters,
        /** Node's server.headersTimeout: a client must send its headers within it (slow-loris). */
        headersTimeoutMs: api.headers_timeout_ms,
        /** Node's server.requestTimeout: a whole request (headers and body) must arrive within it. */
        requestTimeoutMs: api.request_timeout_ms,
        keepAliveTimeoutMs: api.keep_alive_timeout_ms,
        maxConnections: api.max_connections,
        /** Failed admin authentications per client address per minute before 429. */
        adminFailuresPerMinute: api.admin_failures_per_minute,
      }) as const,
  ),
);

// ---- admission: who may take part (docs/security.md §2) ----------------------------------------

const ED25519_KEY_B64URL = /^[A-Za-z0-9_-]{43}$/;

/**
 * One table holds every kind's settings (the file may keep them while another kind is in use);
 * each is checked, and `kind` picks the ones that make up `AdmissionSettings`.
 */
const admissionSchema = v.pipe(
  table({
    kind: oneOf(['open', 'token', 'allowlist'], '"open", "token" or "allowlist"'),
    open_on_public_host: flag,
    jwks_url: setting<string>(
      'an http(s) URL',
      (value) => typeof value === 'string' && (value === '' || /^https?:\/\//.test(value)),
    ),
    jwt_public_key: text,
    jwt_issuer: text,
    jwt_audience: text,
    max_identities_per_subject: int(1, 1_000_000),
    allowlist: v.pipe(
      v.array(
        setting<string>(
          'a 32-byte Ed25519 public key in base64url',
          (value) => typeof value === 'string' && ED25519_KEY_B64URL.test(value),
        ),
        (issue) => `expected a list of Ed25519 public keys, got ${show(issue.input)}`,
      ),
      v.readonly(),
    ),
  }),
  rule([['kind'], ['jwks_url'], ['jwt_public_key']], (admission) =>
    admission.kind === 'token' && (admission.jwks_url === '') === (admission.jwt_public_key === '')
      ? 'kind = "token" needs exactly one of jwks_url and jwt_public_key'
      : undefined,
  ),
  rule(
    [['kind'], ['allowlist']],
    (admission) =>
      admission.kind === 'allowlist' && admission.allowlist.length === 0
        ? 'expected at least one key for kind = "allowlist"'
        : undefined,
    ['allowlist'],
  ),
  v.transform((admission) => {
    switch (admission.kind) {
      case 'open':
        /** Anyone: loopback hosts only, unless `openOnPublicHost` is set. */
        return { kind: admission.kind, openOnPublicHost: admission.open_on_public_host } as const;
      case 'token':
        /** A bearer JWT issued by the app's backend, verified against a JWKS URL or a static public key. */
        return {
          kind: admission.kind,
          jwksUrl: admission.jwks_url,
          jwtPublicKey: admission.jwt_public_key,
          jwtIssuer: admission.jwt_issuer,
          jwtAudience: admission.jwt_audience,
          maxIdentitiesPerSubject: admission.max_identities_per_subject,
        } as const;
      case 'allowlist':
        /** Only the listed participant Ed25519 public keys (base64url). */
        return { kind: admission.kind, allowlist: admission.allowlist } as const;
    }
  }),
);

// ---- limits -------------------------------------------------------------------------------------

const limitsSchema = v.pipe(
  table({
    messages_per_minute_per_subject: int(0),
    messages_per_minute_per_ip: int(0),
    phase_polls_per_minute_per_ip: int(0),
    chunk_bytes_per_participant: int(1024),
    chunk_bytes_total: int(1024),
  }),
  rule(
    [['chunk_bytes_per_participant'], ['chunk_bytes_total']],
    (limits) =>
      limits.chunk_bytes_per_participant > limits.chunk_bytes_total
        ? `${limits.chunk_bytes_per_participant} exceeds limits.chunk_bytes_total ${limits.chunk_bytes_total}`
        : undefined,
    ['chunk_bytes_per_participant'],
  ),
  v.transform(
    (limits) =>
      ({
        /** Requests to `POST /message` per admitted subject per minute (0: no limit). */
        messagesPerMinutePerSubject: limits.messages_per_minute_per_subject,
        /** Requests to `POST /message` per client address per minute (0: no limit). */
        messagesPerMinutePerIp: limits.messages_per_minute_per_ip,
        /** Requests to `GET /phase` per client address per minute (0: no limit). */
        phasePollsPerMinutePerIp: limits.phase_polls_per_minute_per_ip,
        /** Incomplete multipart data held per participant, bytes (each chunk costs at least 256). */
        chunkBytesPerParticipant: limits.chunk_bytes_per_participant,
        /** Incomplete multipart data held in total, bytes. */
        chunkBytesTotal: limits.chunk_bytes_total,
      }) as const,
  ),
);

// ---- safety -------------------------------------------------------------------------------------

function safetySchema(mask: MaskConfig | undefined) {
  return v.pipe(
    table({
      allow_unsafe_small_rounds: flag,
      scalar_min: num('a number ≥ 0', (n) => n >= 0),
      scalar_max: num('a number > 0', (n) => n > 0),
    }),
    rule(
      [['scalar_min'], ['scalar_max']],
      (safety) =>
        safety.scalar_min > safety.scalar_max
          ? `${safety.scalar_min} exceeds safety.scalar_max ${safety.scalar_max}`
          : undefined,
      ['scalar_min'],
    ),
    rule(
      [['scalar_max']],
      (safety) => {
        if (mask === undefined) return undefined;
        // Participants clamp their scalar to the bound A (protocol.md §4.2): a larger maximum means nothing.
        const bound = Number(maskParams(mask).addShift);
        return safety.scalar_max > bound
          ? `${safety.scalar_max} exceeds the bound ${bound} of mask.bound = ${mask.bound} (scalars are clamped to it)`
          : undefined;
      },
      ['scalar_max'],
    ),
    v.transform(
      (safety) =>
        ({
          /** Allows rounds below the safe minimums (update/sum/sum2 count.min < 3): tests and demos only. */
          allowUnsafeSmallRounds: safety.allow_unsafe_small_rounds,
          /** The range every participant's scalar must lie in, checked through the unmasked scalar sum. */
          scalarMin: safety.scalar_min,
          scalarMax: safety.scalar_max,
        }) as const,
    ),
  );
}

// ---- pet: the per-round settings (also the body of PUT /admin/settings) --------------------------

/**
 * `count.min`: at least 1, and at least `least` (SAFE_MIN_COUNT unless small rounds are allowed).
 * Fewer than 3 sum, update or sum2 participants make a round meaningless (one update is the
 * aggregate; one sum participant chooses the mask): refused unless explicitly allowed.
 */
function countMin(least: number) {
  const anInteger = isInteger(1, Number.MAX_SAFE_INTEGER);
  return v.custom<number>(
    (value) => anInteger(value) && value >= least,
    (issue) =>
      anInteger(issue.input)
        ? `expected at least ${least} (fewer makes a round meaningless: docs/security.md §1), got ${issue.input}; ` +
          'set safety.allow_unsafe_small_rounds = true for tests and demos'
        : `expected an integer in 1..${Number.MAX_SAFE_INTEGER}, got ${show(issue.input)}`,
  );
}

const phaseCountSchema = (least: number) =>
  v.pipe(
    table({ min: countMin(least), max: int(1) }),
    rule([['min'], ['max']], (count) =>
      count.min > count.max ? `min ${count.min} exceeds max ${count.max}` : undefined,
    ),
  );

const phaseTimeSchema = v.pipe(
  table({ min_ms: int(0), max_ms: int(1) }),
  rule([['min_ms'], ['max_ms']], (time) =>
    time.min_ms > time.max_ms ? `min_ms ${time.min_ms} exceeds max_ms ${time.max_ms}` : undefined,
  ),
  v.transform((time) => ({ minMs: time.min_ms, maxMs: time.max_ms }) as const),
);

const phaseEntries = (least: number) => ({ count: phaseCountSchema(least), time: phaseTimeSchema });

/** A phase's settings: how many messages it takes and how long it may last. */
const phaseSchema = (least: number) => table(phaseEntries(least));

/** The sum and update phases: a phase whose participants are selected with a probability. */
const selectingPhaseSchema = (least: number) =>
  table({ probability: num('a probability in (0, 1]', (p) => p > 0 && p <= 1), ...phaseEntries(least) });

/** The `pet` table: also the body of `PUT /admin/settings`, merged over the current settings. */
export function petSchema(context: SettingsContext) {
  const least = context.allowUnsafeSmallRounds ? 1 : SAFE_MIN_COUNT;
  const { mask } = context;
  return v.pipe(
    table({ sum: selectingPhaseSchema(least), update: selectingPhaseSchema(least), sum2: phaseSchema(least) }),
    rule(
      [
        ['sum', 'count', 'max'],
        ['sum2', 'count', 'max'],
      ],
      ({ sum, sum2 }) => {
        const majority = Math.floor(sum.count.max / 2) + 1;
        if (sum2.count.max > sum.count.max) return `${sum2.count.max} exceeds pet.sum.count.max ${sum.count.max}`;
        // Unmask needs a mask backed by a majority of the sum dictionary (protocol.md §1.1).
        if (sum2.count.max < majority) {
          return `${sum2.count.max} is below a majority (${majority}) of pet.sum.count.max ${sum.count.max}`;
        }
        return undefined;
      },
      ['sum2', 'count', 'max'],
    ),
    rule(
      [
        ['sum', 'count', 'max'],
        ['sum2', 'count', 'min'],
      ],
      ({ sum, sum2 }) =>
        sum2.count.min > sum.count.max
          ? `${sum2.count.min} can never be reached with pet.sum.count.max ${sum.count.max}`
          : undefined,
      ['sum2', 'count', 'min'],
    ),
    rule(
      [['update', 'count', 'max']],
      ({ update }) => {
        if (mask === undefined) return undefined;
        const cap = maskParams(mask).modelCap;
        return BigInt(update.count.max) > cap
          ? `${update.count.max} exceeds the model cap ${cap} of mask.model = ${mask.model}`
          : undefined;
      },
      ['update', 'count', 'max'],
    ),
  );
}

// ---- mask, model, store, models -----------------------------------------------------------------

/** The mask config (protocol.md §4.1), from the names @petfl/core defines. */
export const maskSchema = table({
  group: oneOf(GROUP_TYPES),
  data: oneOf(DATA_TYPES),
  bound: oneOf(BOUND_TYPES),
  model: oneOf(MODEL_TYPES),
});

const modelSchema = table({ length: int(1, 2 ** 32 - 1) });

/**
 * A Redis key prefix the store takes (store/redis/keys.ts keyBase, not imported: the core stays
 * free of the Redis adapter): text without braces, or text whose first `{` opens a non-empty
 * Redis Cluster hash tag.
 */
const KEY_PREFIX = /^(?:[^{}]+|[^{]*\{[^}]+\}.*)$/;

const storeSchema = v.pipe(
  table({
    kind: oneOf(['memory', 'redis'], '"memory" or "redis"'),
    redis_url: text,
    key_prefix: setting<string>(
      'a non-empty prefix without braces, or one holding a Redis Cluster hash tag such as "{petfl}"',
      (value) => typeof value === 'string' && KEY_PREFIX.test(value),
    ),
  }),
  rule(
    [['kind'], ['redis_url']],
    (store) => (store.kind === 'redis' && store.redis_url === '' ? 'expected a non-empty string, got ""' : undefined),
    ['redis_url'],
  ),
  v.transform((store) =>
    store.kind === 'redis'
      ? ({ kind: store.kind, redisUrl: store.redis_url, keyPrefix: store.key_prefix } as const)
      : ({ kind: store.kind } as const),
  ),
);

const modelsSchema = table({ dir: nonEmptyText });

/**
 * Several instances on one Redis store (ADR 0008): the leader's lease, how often an instance
 * checkpoints its partial aggregate, and the instance's name in the store's update logs.
 */
const clusterSchema = v.pipe(
  table({
    instance: setting<string>(
      'a name of letters, digits, "-", "_" or "." (at most 64), or "" for a random one',
      (value) => typeof value === 'string' && /^[A-Za-z0-9._-]{0,64}$/.test(value),
    ),
    lease_ms: int(500, 600_000),
    checkpoint_every: int(1, 1_000_000),
  }),
  v.transform((cluster) => ({
    instance: cluster.instance,
    leaseMs: cluster.lease_ms,
    checkpointEvery: cluster.checkpoint_every,
  })),
);

// ---- run: a training run (docs/learning.md) ---------------------------------------------------

/** A strategy hyper-parameter: "default" (the strategy's own, docs/learning.md §3) or a number. */
const hyperParameter = (what: string, ok: (n: number) => boolean) =>
  v.pipe(
    setting<'default' | number | string>(
      `"default" or ${what}`,
      (value) =>
        value === 'default' ||
        (typeof value === 'number' && Number.isFinite(value) && ok(value)) ||
        // From the environment every value is text.
        (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)) && ok(Number(value))),
    ),
    v.transform((value): number | undefined => (value === 'default' ? undefined : Number(value))),
  );

const earlyStoppingSchema = table({
  metric: text,
  mode: oneOf(['min', 'max'], '"min" or "max"'),
  patience: int(0, 1_000_000),
  tolerance: num('a number ≥ 0', (n) => n >= 0),
  relative: flag,
});

/** `[run.privacy]`: differential privacy, central or distributed (docs/privacy.md). */
const privacySchema = table({
  mechanism: oneOf(
    ['none', 'central-gaussian', 'skellam', 'distributed-discrete-gaussian'],
    '"none", "central-gaussian", "skellam" or "distributed-discrete-gaussian"',
  ),
  clip_norm: num('a number > 0', (n) => n > 0),
  participants: int(1, 1_000_000),
  adaptive_clipping: flag,
  target_quantile: num('a number in (0, 1)', (n) => n > 0 && n < 1),
  clip_learning_rate: num('a number in (0, 10]', (n) => n > 0 && n <= 10),
  clip_bit_weight: num('a number in (0, 100]', (n) => n > 0 && n <= 100),
  rotation: oneOf(['none', 'hadamard'], '"none" or "hadamard"'),
  noise_multiplier: num('a number ≥ 0', (n) => n >= 0),
  target_epsilon: num('a number ≥ 0', (n) => n >= 0),
  delta: num('a number in (0, 1)', (n) => n > 0 && n < 1),
  budget_epsilon: num('a number ≥ 0', (n) => n >= 0),
});

const runSchema = v.pipe(
  table({
    enabled: flag,
    rounds: int(0, 2 ** 32 - 1),
    send: oneOf(['update', 'model'], '"update" or "model"'),
    strategy: oneOf(STRATEGY_NAMES),
    // Each strategy's own bounds on the ones it reads: the rule below (strategySettingsProblems).
    server_learning_rate: hyperParameter('a number', () => true),
    server_momentum: hyperParameter('a number', () => true),
    beta_1: hyperParameter('a number', () => true),
    beta_2: hyperParameter('a number', () => true),
    tau: hyperParameter('a number', () => true),
    control_variates: flag,
    metrics: v.pipe(
      setting<readonly string[]>('a list of metric names', (value) => Array.isArray(value)),
      v.readonly(),
    ),
    max_examples: int(1, 2 ** 40),
    initial_model: text,
    final_evaluation: flag,
    keep_checkpoints: int(0, 2 ** 32 - 1),
    early_stopping: earlyStoppingSchema,
    privacy: privacySchema,
  }),
  rule([['send'], ['control_variates'], ['metrics'], ['max_examples']], (run) => {
    try {
      validateVectorLayout({
        modelLength: 1,
        send: run.send,
        controlVariates: run.control_variates,
        metrics: run.metrics,
        maxExamples: run.max_examples,
      });
    } catch (error) {
      return (error as Error).message.replace(/^vector layout: /, '');
    }
    return undefined;
  }),
  rule(
    [['metrics'], ['early_stopping']],
    (run) =>
      run.early_stopping.metric !== '' && !run.metrics.includes(run.early_stopping.metric)
        ? `"${run.early_stopping.metric}" is not one of run.metrics (${JSON.stringify(run.metrics)})`
        : undefined,
    ['early_stopping', 'metric'],
  ),
  rule(
    [['strategy'], ['server_learning_rate'], ['server_momentum'], ['beta_1'], ['beta_2'], ['tau']],
    (run) => {
      const problems = strategySettingsProblems(strategySettings(run));
      return problems.length === 0 ? undefined : problems.join('; ');
    },
    ['strategy'],
  ),
  rule(
    [['privacy'], ['send'], ['control_variates'], ['metrics']],
    (run) => {
      if (run.privacy.mechanism === 'none') return undefined;
      if (run.send !== 'update') return 'differential privacy needs send = "update" (clipped updates)';
      if (run.control_variates) return 'differential privacy does not cover control variates: turn them off';
      if (run.metrics.length > 0) {
        return 'federated metrics would be released without noise: set run.metrics = [] under differential privacy';
      }
      return undefined;
    },
    ['privacy', 'mechanism'],
  ),
  rule(
    [['privacy']],
    (run) =>
      run.privacy.rotation === 'hadamard' &&
      run.privacy.mechanism !== 'skellam' &&
      run.privacy.mechanism !== 'distributed-discrete-gaussian'
        ? 'the rotation is for distributed noise: set mechanism to "skellam" or "distributed-discrete-gaussian", or rotation = "none"'
        : undefined,
    ['privacy', 'rotation'],
  ),
  rule(
    [['privacy'], ['rounds']],
    (run) =>
      run.privacy.mechanism !== 'none' && run.privacy.target_epsilon > 0 && run.rounds === 0
        ? 'a target ε is spread over run.rounds rounds: set run.rounds'
        : undefined,
    ['privacy', 'target_epsilon'],
  ),
  rule(
    [['privacy']],
    (run) =>
      run.privacy.mechanism !== 'none' && run.privacy.target_epsilon === 0 && run.privacy.noise_multiplier === 0
        ? 'expected a noise_multiplier > 0 or a target_epsilon > 0'
        : undefined,
    ['privacy', 'noise_multiplier'],
  ),
  rule(
    [['early_stopping']],
    (run) =>
      run.early_stopping.patience > 0 && run.early_stopping.metric === ''
        ? 'expected early_stopping.metric to name the metric judged'
        : undefined,
    ['early_stopping', 'patience'],
  ),
);

/** Whether participants add the noise (docs/privacy.md §2). */
export function isDistributedMechanism(mechanism: string): boolean {
  return mechanism === 'skellam' || mechanism === 'distributed-discrete-gaussian';
}

/** The strategy's hyper-parameters: the file's, or the strategy's defaults for those it leaves "default". */
function strategySettings(run: {
  readonly strategy: StrategyName;
  readonly server_learning_rate: number | undefined;
  readonly server_momentum: number | undefined;
  readonly beta_1: number | undefined;
  readonly beta_2: number | undefined;
  readonly tau: number | undefined;
}): StrategySettings {
  const defaults = DEFAULT_STRATEGY_SETTINGS[run.strategy];
  return {
    name: run.strategy,
    serverLearningRate: run.server_learning_rate ?? defaults.serverLearningRate,
    serverMomentum: run.server_momentum ?? defaults.serverMomentum,
    beta1: run.beta_1 ?? defaults.beta1,
    beta2: run.beta_2 ?? defaults.beta2,
    tau: run.tau ?? defaults.tau,
  };
}

/** `[run]` with the model's weights P: the run's settings, its layout and the strategy's hyper-parameters resolved. */
function runSettings(run: v.InferOutput<typeof runSchema>, modelLength: number) {
  const privacy = run.privacy;
  const layout: VectorLayout = {
    modelLength,
    send: run.send,
    controlVariates: run.control_variates,
    metrics: run.metrics,
    maxExamples: run.max_examples,
    ...(privacy.mechanism === 'none' ? {} : { clipNorm: privacy.clip_norm }),
    ...(privacy.mechanism !== 'none' && privacy.adaptive_clipping ? { adaptiveClipping: true } : {}),
  };
  const { early_stopping: stop } = run;
  return {
    enabled: run.enabled,
    /** Completed rounds after which the run ends; 0: no limit. */
    rounds: run.rounds,
    /** After the last training round, one evaluation-only round evaluates the final model (with metrics). */
    finalEvaluation: run.final_evaluation,
    layout,
    strategy: strategySettings(run),
    /** A file with the initial global model ("" for zeros), read by the CLI (docs/learning.md §4). */
    initialModel: run.initial_model,
    /** Rounds whose model and checkpoint are kept, besides the best and the latest; 0: all. */
    keepCheckpoints: run.keep_checkpoints,
    /** Judges the best model; ends the run after `patience` evaluations without improvement (0: never). */
    earlyStopping:
      stop.metric === ''
        ? null
        : {
            metric: stop.metric,
            mode: stop.mode,
            patience: stop.patience,
            tolerance: stop.tolerance,
            relative: stop.relative,
          },
    /**
     * Central differential privacy (docs/learning.md §7): participants clip their updates to
     * `clipNorm`, the coordinator adds noise of `noiseMultiplier` · clipNorm to the sum (solved from
     * `targetEpsilon` over the run's rounds when that is > 0), and the run ends before a round would
     * spend more than `budgetEpsilon` (0: no budget) at `delta`.
     */
    privacy:
      privacy.mechanism === 'none'
        ? null
        : {
            mechanism: privacy.mechanism,
            clipNorm: privacy.clip_norm,
            /** Distributed noise: the sum carries the noise of at least this many participants. */
            participants: privacy.participants,
            /**
             * Adaptive clipping (Andrew et al. 2021; docs/privacy.md §2), or null: C moves each round by
             * C·exp(−learningRate·(b̄ − targetQuantile)), b̄ the noised fraction of unclipped updates,
             * carried by a bit of weight `bitWeight` inside the noised vector.
             */
            adaptive: privacy.adaptive_clipping
              ? {
                  targetQuantile: privacy.target_quantile,
                  learningRate: privacy.clip_learning_rate,
                  bitWeight: privacy.clip_bit_weight,
                }
              : null,
            /** Distributed noise: every participant rotates its clipped update first (@petfl/core rotation.ts). */
            rotation: privacy.rotation === 'hadamard' ? ('hadamard' as const) : null,
            noiseMultiplier: privacy.noise_multiplier,
            targetEpsilon: privacy.target_epsilon,
            delta: privacy.delta,
            budgetEpsilon: privacy.budget_epsilon,
          },
  } as const;
}

/** The whole settings tree, in the order of DEFAULT_SETTINGS_TOML. */
export function settingsSchema(context: SettingsContext) {
  return v.pipe(
    settingsTable(context),
    rule<v.InferOutput<ReturnType<typeof settingsTable>>>(
      [['run'], ['safety']],
      (tree) =>
        tree.run.enabled && tree.run.privacy.mechanism !== 'none' && tree.safety.scalarMin !== tree.safety.scalarMax
          ? 'differential privacy calibrates its noise to equal scalars: set safety.scalar_min = safety.scalar_max'
          : undefined,
      ['run', 'privacy', 'mechanism'],
    ),
    rule<v.InferOutput<ReturnType<typeof settingsTable>>>(
      [['run'], ['safety']],
      (tree) =>
        tree.run.enabled && isDistributedMechanism(tree.run.privacy.mechanism) && tree.safety.scalarMax !== 1
          ? 'distributed noise is added in exact integer units: set safety.scalar_min = safety.scalar_max = 1'
          : undefined,
      ['run', 'privacy', 'mechanism'],
    ),
    rule<v.InferOutput<ReturnType<typeof settingsTable>>>(
      [['run'], ['pet']],
      (tree) =>
        tree.run.enabled &&
        isDistributedMechanism(tree.run.privacy.mechanism) &&
        tree.pet.update.count.min < tree.run.privacy.participants
          ? `the noise is shared by ${tree.run.privacy.participants} participants: ` +
            `pet.update.count.min (${tree.pet.update.count.min}) must be at least run.privacy.participants`
          : undefined,
      ['run', 'privacy', 'participants'],
    ),
    // The mask config must hold the participants' noise (docs/privacy.md §2).
    rule<v.InferOutput<ReturnType<typeof settingsTable>>>(
      [['run'], ['mask'], ['model']],
      (tree) => {
        try {
          runRoundPrivacy({ mask: tree.mask, run: runSettings(tree.run, tree.model.length) });
        } catch (error) {
          return error instanceof Error ? error.message.replace(/^privacy: /, '') : String(error);
        }
        return undefined;
      },
      ['run', 'privacy', 'mechanism'],
    ),
    // With a run, `[model] length` is the model's weights P and the masked vector (the rounds'
    // modelLength) is the run's layout's (docs/learning.md §2).
    v.transform(({ run, model, ...rest }) => {
      const settings = runSettings(run, model.length);
      return {
        ...rest,
        model: { length: settings.enabled ? maskedLength(settings.layout) : model.length },
        run: settings,
      };
    }),
  );
}

function settingsTable(context: SettingsContext) {
  return table({
    api: apiSchema,
    admission: admissionSchema,
    limits: limitsSchema,
    safety: safetySchema(context.mask),
    pet: petSchema(context),
    mask: maskSchema,
    model: modelSchema,
    store: storeSchema,
    models: modelsSchema,
    cluster: clusterSchema,
    run: runSchema,
  });
}

export type PhaseCount = v.InferOutput<ReturnType<typeof phaseCountSchema>>;
export type PhaseTime = v.InferOutput<typeof phaseTimeSchema>;
export type PhaseSettings = v.InferOutput<ReturnType<typeof phaseSchema>>;
/** Who may take part (docs/security.md §2). */
export type AdmissionSettings = v.InferOutput<typeof admissionSchema>;
export type Settings = v.InferOutput<ReturnType<typeof settingsSchema>>;
/** A training run's settings (docs/learning.md). */
export type RunSettings = Settings['run'];
