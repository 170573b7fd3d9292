import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeGlobalModel } from '@petfl/core';
import { afterAll, describe, expect, it } from 'vitest';
import { SettingsError } from '../settings.ts';
import { readInitialModel } from './initial-model.ts';

const dir = mkdtempSync(join(tmpdir(), 'petfl-initial-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

async function problem(path: string): Promise<string> {
  try {
    await readInitialModel(path);
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError);
    return (error as SettingsError).problems.join('\n');
  }
  return 'no problem';
}

describe('run.initial_model (docs/learning.md §1)', () => {
  const weights = [0.5, -1.25, 3e-8, 7];

  it('reads raw little-endian .f32 and .f64 files and global-model bodies', async () => {
    const f32 = Float32Array.from(weights);
    expect([...(await readInitialModel(file('init.f32', new Uint8Array(f32.buffer))))]).toEqual([...f32]);
    const f64 = Float64Array.from(weights);
    expect([...(await readInitialModel(file('init.F64', new Uint8Array(f64.buffer))))]).toEqual(weights);
    const body = encodeGlobalModel({ roundId: 9, model: f64 });
    expect([...(await readInitialModel(file('latest.bin', body)))]).toEqual(weights);
  });

  it('names the file and the problem', async () => {
    expect(await problem(join(dir, 'missing.f32'))).toMatch(/run\.initial_model: .*missing\.f32: cannot read/);
    expect(await problem(file('short.f64', new Uint8Array(12)))).toMatch(/expected a multiple of 8 bytes, got 12/);
    expect(await problem(file('nan.f32', new Uint8Array(Float32Array.of(1, Number.NaN).buffer)))).toMatch(
      /weight 1 is NaN/,
    );
    expect(await problem(file('junk.bin', Uint8Array.of(1, 2, 3)))).toMatch(
      /not a global-model body, nor \.f32\/\.f64/,
    );
  });
});
