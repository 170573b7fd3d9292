import { describe, expect, it } from 'vitest';
import { envName, parseSettings, SettingsError } from './settings.ts';

function problemsOf(toml: string | undefined, env: Record<string, string> = {}): readonly string[] {
  try {
    parseSettings(toml, env);
  } catch (error) {
    if (error instanceof SettingsError) return error.problems;
    throw error;
  }
  throw new Error('expected a SettingsError');
}

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
    expect(s.store).toEqual({ kind: 'redis', redisUrl: 'redis://db:6379' });
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
      'admission.allowlist: expected 32-byte Ed25519 public keys in base64url, got "short"',
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
