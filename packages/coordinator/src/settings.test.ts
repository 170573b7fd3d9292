import { describe, expect, it } from 'vitest';
import { CoordinatorError } from './errors.ts';
import { changePetSettings, envName, parseSettings, SettingsError } from './settings.ts';

function problemsOf(toml: string | undefined, env: Record<string, string> = {}): readonly string[] {
  return problemsOfCall(() => parseSettings(toml, env));
}

function problemsOfCall(call: () => unknown): readonly string[] {
  try {
    call();
  } catch (error) {
    if (error instanceof SettingsError) return error.problems;
    throw error;
  }
  throw new Error('expected a SettingsError');
}

const MAX = Number.MAX_SAFE_INTEGER;
const KEY_A = 'A'.repeat(43);
const KEY_B = `${'b'.repeat(42)}_`;

describe('parseSettings', () => {
  it('gives working defaults with no file and no environment', () => {
    const s = parseSettings(undefined, {});
    expect(s.api.port).toBe(8081);
    expect(s.api.corsOrigins).toEqual(['http://localhost:5173']);
    expect(s.pet.sum).toEqual({ probability: 0.5, count: { min: 3, max: 100 }, time: { minMs: 5000, maxMs: 60000 } });
    expect(s.pet.update.count).toEqual({ min: 3, max: 1000 });
    expect(s.pet.sum2.count.min).toBe(3);
    expect(s.pet.sum2.time.minMs).toBeGreaterThan(0);
    expect(s.pet.update.time.minMs).toBeGreaterThan(0);
    expect(s.safety).toEqual({ allowUnsafeSmallRounds: false, scalarMin: 0.01, scalarMax: 100 });
    expect(s.admission).toEqual({ kind: 'open', openOnPublicHost: false });
    expect(s.mask).toEqual({ group: 'power2', data: 'f32', bound: 'b2', model: 'm3' });
    expect(s.model.length).toBe(10000);
    expect(s.store).toEqual({ kind: 'memory' });
    expect(s.models.dir).toBe('./data/models');
  });

  it('merges the file over the defaults and the environment over the file', () => {
    const s = parseSettings(
      `[api]\nport = 9000\n[pet.sum]\nprobability = 0.25\n[store]\nkind = "redis"\nredis_url = "redis://db:6379"\n`,
      {
        PETFL_API_PORT: '9100',
        PETFL_PET_SUM_COUNT_MAX: '50',
        PETFL_PET_SUM2_COUNT_MAX: '50',
        PETFL_API_CORS_ORIGINS: 'https://a.example, https://b.example',
        PATH: '/usr/bin',
      },
    );
    expect(s.api.port).toBe(9100);
    expect(s.pet.sum.probability).toBe(0.25);
    expect(s.pet.sum.count.max).toBe(50);
    expect(s.api.corsOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(s.store).toEqual({ kind: 'redis', redisUrl: 'redis://db:6379', keyPrefix: 'petfl' });
  });

  it('names environment variables after the setting path', () => {
    expect(envName(['store', 'redis_url'])).toBe('PETFL_STORE_REDIS_URL');
    expect(envName(['pet', 'update', 'time', 'max_ms'])).toBe('PETFL_PET_UPDATE_TIME_MAX_MS');
  });

  it('lists every invalid field in one error', () => {
    const problems = problemsOf(
      `[pet.sum]\nprobability = 0\ncount = { min = 5, max = 2 }\n[pet.update]\ncount = { min = 0, max = 5000 }\ntime = { min_ms = 10, max_ms = 5 }\n[pet.sum2]\ncount = { min = 3, max = 10 }\n[mask]\nmodel = "m7"\n[model]\nlength = 0\n[store]\nkind = "disk"\n`,
      { PETFL_API_PORT: 'eighty', PETFL_NOT_A_SETTING: '1' },
    );
    const text = problems.join('\n');
    expect(text).toContain('pet.sum.probability');
    expect(text).toContain('pet.sum.count: min 5 exceeds max 2');
    expect(text).toContain('pet.update.count.min');
    expect(text).toContain('pet.update.time: min_ms 10 exceeds max_ms 5');
    expect(text).toContain('pet.sum2.count.max: 10 exceeds pet.sum.count.max 2');
    expect(text).toContain('mask.model');
    expect(text).toContain('model.length');
    expect(text).toContain('store.kind');
    expect(text).toContain('api.port');
    expect(text).toContain('PETFL_NOT_A_SETTING: not a setting');
    expect(problems.length).toBeGreaterThanOrEqual(10);
  });

  it('caps update.count.max by the mask config model cap', () => {
    expect(problemsOf(`[pet.update]\ncount = { min = 3, max = 1001 }\n`)).toEqual([
      'pet.update.count.max: 1001 exceeds the model cap 1000 of mask.model = m3',
    ]);
    expect(
      parseSettings(`[pet.update]\ncount = { min = 3, max = 1001 }\n[mask]\nmodel = "m6"\n`, {}).pet.update.count.max,
    ).toBe(1001);
  });

  it('refuses rounds below the safe minimums unless allow_unsafe_small_rounds is set', () => {
    const small = `[pet.sum]\ncount = { min = 1, max = 100 }\n[pet.update]\ncount = { min = 2, max = 100 }\n[pet.sum2]\ncount = { min = 1, max = 100 }\n`;
    const problems = problemsOf(small);
    expect(problems).toHaveLength(3);
    for (const [i, phase] of ['sum', 'update', 'sum2'].entries()) {
      expect(problems[i]).toMatch(
        new RegExp(`^pet\\.${phase}\\.count\\.min: expected at least 3 .*allow_unsafe_small_rounds`),
      );
    }
    const allowed = parseSettings(`${small}[safety]\nallow_unsafe_small_rounds = true\n`, {});
    expect([allowed.pet.sum.count.min, allowed.pet.update.count.min, allowed.pet.sum2.count.min]).toEqual([1, 2, 1]);
    expect(
      problemsOf(`[safety]\nallow_unsafe_small_rounds = true\n[pet.update]\ncount = { min = 0, max = 9 }\n`),
    ).toEqual(['pet.update.count.min: expected an integer in 1..9007199254740991, got 0']);
  });

  it('refuses a sum2 count.max below a majority of sum count.max (unmask needs a majority)', () => {
    expect(problemsOf('[pet.sum2]\ncount = { min = 3, max = 50 }\n')).toEqual([
      'pet.sum2.count.max: 50 is below a majority (51) of pet.sum.count.max 100',
    ]);
  });

  it('checks the scalar range against the mask bound, and the admission table', () => {
    expect(problemsOf('[safety]\nscalar_min = 2\nscalar_max = 1\n')).toEqual([
      'safety.scalar_min: 2 exceeds safety.scalar_max 1',
    ]);
    expect(problemsOf('[safety]\nscalar_max = 1000\n')).toEqual([
      'safety.scalar_max: 1000 exceeds the bound 100 of mask.bound = b2 (scalars are clamped to it)',
    ]);
    expect(parseSettings('[safety]\nscalar_max = 1000\n[mask]\nbound = "b4"\n', {}).safety.scalarMax).toBe(1000);
    expect(problemsOf('[admission]\nkind = "token"\n')).toEqual([
      'admission: kind = "token" needs exactly one of jwks_url and jwt_public_key',
    ]);
    expect(problemsOf('[admission]\nkind = "allowlist"\nallowlist = ["short"]\n')).toEqual([
      'admission.allowlist[0]: expected a 32-byte Ed25519 public key in base64url, got "short"',
    ]);
    expect(problemsOf('[admission]\nkind = "everyone"\n')[0]).toMatch(/^admission.kind: expected "open", "token"/);
    const token = parseSettings('[admission]\nkind = "token"\njwks_url = "https://auth.example/jwks.json"\n', {});
    expect(token.admission).toMatchObject({
      kind: 'token',
      jwksUrl: 'https://auth.example/jwks.json',
      maxIdentitiesPerSubject: 1,
    });
  });

  it('rejects a file that is not TOML', () => {
    expect(problemsOf('[api\nport = 1')[0]).toMatch(/^settings file: not valid TOML/);
  });
});

describe('parseSettings: one problem line per bad value', () => {
  it.each<[string, string[]]>([
    ['[api]\nport = 70000', ['api.port: expected an integer in 0..65535, got 70000']],
    ['[api]\nport = 80.5', ['api.port: expected an integer in 0..65535, got 80.5']],
    [
      '[api]\nadmin_token = ""',
      [
        'api.admin_token: expected a bearer token of letters, digits and -._~+/ (then = padding), got another value (not shown: it is a secret)',
      ],
    ],
    // A token hono/bearer-auth would never match (RFC 6750 characters only); the problem never shows it.
    [
      '[api]\nadmin_token = "has space"',
      [
        'api.admin_token: expected a bearer token of letters, digits and -._~+/ (then = padding), got another value (not shown: it is a secret)',
      ],
    ],
    [
      '[api]\nmetrics_token = 5',
      [
        'api.metrics_token: expected "" or a bearer token of letters, digits and -._~+/ (then = padding), got another value (not shown: it is a secret)',
      ],
    ],
    ['[api]\ncors_origins = ["a", ""]', ['api.cors_origins: expected a list of non-empty strings, got ["a",""]']],
    ['[api]\nmax_body_bytes = 1023', ['api.max_body_bytes: expected an integer in 1024..2147483647, got 1023']],
    [
      '[api]\nheaders_timeout_ms = 9000\nrequest_timeout_ms = 8000',
      ['api.headers_timeout_ms: 9000 exceeds api.request_timeout_ms 8000'],
    ],
    ['[admission]\nopen_on_public_host = "yes"', ['admission.open_on_public_host: expected true or false, got "yes"']],
    [
      '[admission]\nkind = "token"\njwks_url = "ftp://auth.example/jwks"',
      ['admission.jwks_url: expected an http(s) URL, got "ftp://auth.example/jwks"'],
    ],
    [
      '[admission]\nkind = "token"\njwks_url = "https://auth.example/jwks"\njwt_public_key = "pem"',
      ['admission: kind = "token" needs exactly one of jwks_url and jwt_public_key'],
    ],
    [
      '[admission]\nmax_identities_per_subject = 0',
      ['admission.max_identities_per_subject: expected an integer in 1..1000000, got 0'],
    ],
    ['[admission]\nkind = "allowlist"', ['admission.allowlist: expected at least one key for kind = "allowlist"']],
    ['[admission]\nallowlist = "key"', ['admission.allowlist: expected a list of Ed25519 public keys, got "key"']],
    [
      '[limits]\nmessages_per_minute_per_ip = -1',
      [`limits.messages_per_minute_per_ip: expected an integer in 0..${MAX}, got -1`],
    ],
    [
      '[limits]\nchunk_bytes_per_participant = 4096\nchunk_bytes_total = 2048',
      ['limits.chunk_bytes_per_participant: 4096 exceeds limits.chunk_bytes_total 2048'],
    ],
    ['[safety]\nscalar_min = -1', ['safety.scalar_min: expected a number ≥ 0, got -1']],
    ['[safety]\nscalar_max = 0', ['safety.scalar_max: expected a number > 0, got 0']],
    ['[safety]\nscalar_max = inf', ['safety.scalar_max: expected a number > 0, got Infinity']],
    ['[pet.update]\nprobability = 1.5', ['pet.update.probability: expected a probability in (0, 1], got 1.5']],
    ['[pet.sum2]\ntime = { min_ms = -1 }', [`pet.sum2.time.min_ms: expected an integer in 0..${MAX}, got -1`]],
    [
      // rules do not hold each other back: both are listed
      '[pet.sum2]\ncount = { min = 101, max = 100 }',
      [
        'pet.sum2.count: min 101 exceeds max 100',
        'pet.sum2.count.min: 101 can never be reached with pet.sum.count.max 100',
      ],
    ],
    ['[mask]\ngroup = "ring"', ['mask.group: expected one of integer, prime, power2, got "ring"']],
    ['[model]\nlength = 4294967296', ['model.length: expected an integer in 1..4294967295, got 4294967296']],
    ['[store]\nkind = "redis"\nredis_url = ""', ['store.redis_url: expected a non-empty string, got ""']],
    ['[models]\ndir = ""', ['models.dir: expected a non-empty string, got ""']],
    ['[pet]\nsum = 3', ['pet.sum: expected an object, got 3']],
    ['[api.port]\nnumber = 80', ['api.port: expected an integer in 0..65535, got {"number":80}']],
    [
      '[api]\nprot = 80\n[pet.sum.count]\nmid = 5\n[extra]\nx = 1',
      ['api.prot: not a setting', 'pet.sum.count.mid: not a setting', 'extra: not a setting'],
    ],
  ])('%j', (toml, problems) => {
    expect(problemsOf(toml)).toEqual(problems);
  });

  it('reports a bad setting once, not again through the rules that read it', () => {
    expect(problemsOf('[pet.sum]\ncount = { min = 3, max = "many" }\n')).toEqual([
      `pet.sum.count.max: expected an integer in 1..${MAX}, got "many"`,
    ]);
    expect(problemsOf('[safety]\nscalar_min = "low"\nscalar_max = 1000\n')).toEqual([
      'safety.scalar_min: expected a number ≥ 0, got "low"',
      'safety.scalar_max: 1000 exceeds the bound 100 of mask.bound = b2 (scalars are clamped to it)',
    ]);
  });

  it('is a CoordinatorError with the code invalid-settings', () => {
    const error = (() => {
      try {
        return parseSettings('[api]\nport = -1\n', {});
      } catch (error) {
        return error;
      }
    })();
    expect(error).toBeInstanceOf(CoordinatorError);
    expect(error).toMatchObject({ name: 'SettingsError', code: 'invalid-settings' });
  });
});

describe('parseSettings: api.ingest_workers', () => {
  it('is "auto" by default, a count from the file or the environment, and refuses anything else', () => {
    expect(parseSettings(undefined, {}).api.ingestWorkers).toBe('auto');
    expect(parseSettings('[api]\ningest_workers = 3\n', {}).api.ingestWorkers).toBe(3);
    expect(parseSettings(undefined, { PETFL_API_INGEST_WORKERS: '0' }).api.ingestWorkers).toBe(0);
    expect(parseSettings(undefined, { PETFL_API_INGEST_WORKERS: 'auto' }).api.ingestWorkers).toBe('auto');
    for (const bad of ['-1', 'many', '257', '1.5']) {
      expect(problemsOf(undefined, { PETFL_API_INGEST_WORKERS: bad })).toEqual([
        `api.ingest_workers: expected "auto" or an integer in 0..256, got "${bad}"`,
      ]);
    }
    expect(problemsOf('[api]\ningest_workers = 300\n')).toEqual([
      'api.ingest_workers: expected "auto" or an integer in 0..256, got 300',
    ]);
  });
});

describe('parseSettings: the environment', () => {
  it('reads each variable as the type of its default; lists are comma-separated', () => {
    const s = parseSettings('[api]\nmax_body_bytes = 4096\n', {
      PETFL_API_MAX_BODY_BYTES: '2048',
      PETFL_SAFETY_ALLOW_UNSAFE_SMALL_ROUNDS: 'true',
      PETFL_PET_SUM_COUNT_MIN: '1',
      PETFL_ADMISSION_KIND: 'allowlist',
      PETFL_ADMISSION_ALLOWLIST: ` ${KEY_A}, ${KEY_B},`,
      PETFL_API_METRICS_TOKEN: 'scrape',
    });
    expect(s.api.maxBodyBytes).toBe(2048);
    expect(s.safety.allowUnsafeSmallRounds).toBe(true);
    expect(s.pet.sum.count.min).toBe(1);
    expect(s.admission).toEqual({ kind: 'allowlist', allowlist: [KEY_A, KEY_B] });
    expect(s.api.metricsToken).toBe('scrape');
  });

  it('shows text that is no number or boolean as it was given', () => {
    expect(
      problemsOf(undefined, {
        PETFL_API_PORT: 'eighty',
        PETFL_API_MAX_CONNECTIONS: ' ',
        PETFL_ADMISSION_OPEN_ON_PUBLIC_HOST: 'yes',
        PETFL_ADMISSION_ALLOWLIST: `${KEY_A},short`,
      }),
    ).toEqual([
      'api.port: expected an integer in 0..65535, got "eighty"',
      'api.max_connections: expected an integer in 1..1000000, got " "',
      'admission.open_on_public_host: expected true or false, got "yes"',
      'admission.allowlist[1]: expected a 32-byte Ed25519 public key in base64url, got "short"',
    ]);
  });

  it('lists variables that name no setting first', () => {
    expect(
      problemsOf(undefined, { PETFL_API_PORT: '-1', PETFL_API_PROT: '80', PETFL_LOG: 'debug', HOME: '/root' }),
    ).toEqual([
      'PETFL_API_PROT: not a setting',
      'PETFL_LOG: not a setting',
      'api.port: expected an integer in 0..65535, got -1',
    ]);
  });
});

describe('changePetSettings (the body of PUT /admin/settings)', () => {
  const s = parseSettings(undefined, {});
  const change = (body: unknown, safety = s.safety) => changePetSettings(s.pet, body, s.mask, safety);

  it('applies any subset of the pet table over the current settings, leaving them as they were', () => {
    const before = structuredClone(s.pet);
    const next = change({ sum: { probability: 0.2 }, update: { time: { max_ms: 30000 } } });
    expect(next).toEqual({
      ...s.pet,
      sum: { ...s.pet.sum, probability: 0.2 },
      update: { ...s.pet.update, time: { minMs: 5000, maxMs: 30000 } },
    });
    expect(change({})).toEqual(s.pet);
    expect(s.pet).toEqual(before);
  });

  it('keeps pet.update.count.min at or above the participants whose noise every sum must carry', () => {
    const dp = parseSettings(undefined, {
      PETFL_RUN_ENABLED: 'true',
      PETFL_RUN_PRIVACY_MECHANISM: 'skellam',
      PETFL_RUN_PRIVACY_PARTICIPANTS: '5',
      PETFL_PET_UPDATE_COUNT_MIN: '5',
      PETFL_SAFETY_SCALAR_MIN: '1',
      PETFL_SAFETY_SCALAR_MAX: '1',
      PETFL_MASK_BOUND: 'b2',
    });
    const lower = (min: number) => () =>
      changePetSettings(dp.pet, { update: { count: { min } } }, dp.mask, dp.safety, dp.run);
    expect(problemsOfCall(lower(4))).toEqual([
      'pet.update.count.min: 4 is below run.privacy.participants 5, whose noise every sum must carry',
    ]);
    expect(lower(6)().update.count.min).toBe(6);
  });

  it('refuses keys that are not settings and mistyped values, listing every problem', () => {
    expect(
      problemsOfCall(() =>
        change({
          sum: { probability: 'high', count: { max: '10' }, extra: 1 },
          sum3: {},
          update: { time: { max_ms: -5, minMs: 1 } },
        }),
      ),
    ).toEqual([
      'pet.sum.extra: not a setting',
      'pet.update.time.minMs: not a setting',
      'pet.sum3: not a setting',
      'pet.sum.probability: expected a probability in (0, 1], got "high"',
      'pet.sum.count.max: expected an integer in 1..9007199254740991, got "10"',
      'pet.update.time.max_ms: expected an integer in 1..9007199254740991, got -5',
    ]);
    expect(problemsOfCall(() => change([{ sum: {} }]))).toEqual(['pet: expected an object, got [{"sum":{}}]']);
    expect(problemsOfCall(() => change({ sum2: null }))).toEqual(['pet.sum2: expected an object, got null']);
  });

  it('checks the result like the file: rules across phases, the safe minimums, the model cap', () => {
    expect(problemsOfCall(() => change({ sum: { count: { max: 10 } } }))).toEqual([
      'pet.sum2.count.max: 100 exceeds pet.sum.count.max 10',
    ]);
    expect(problemsOfCall(() => change({ update: { count: { min: 2, max: 5000 } } }))).toEqual([
      'pet.update.count.min: expected at least 3 (fewer makes a round meaningless: docs/security.md §1), got 2; ' +
        'set safety.allow_unsafe_small_rounds = true for tests and demos',
      'pet.update.count.max: 5000 exceeds the model cap 1000 of mask.model = m3',
    ]);
    const unsafe = { ...s.safety, allowUnsafeSmallRounds: true };
    expect(change({ update: { count: { min: 2 } } }, unsafe).update.count.min).toBe(2);
  });
});
