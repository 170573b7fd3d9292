/**
 * The `petfl-coordinator` command as a real child process: JSON logs, a
 * listening server, clean exit on SIGTERM, exit 1 listing every invalid
 * setting or every reason not to start on a public host, and a token generator.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeGlobalModel } from '@petfl/core';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/petfl-coordinator.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'petfl-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(
  args: string[],
  env: Record<string, string>,
  nodeArgs: string[] = [],
): { child: ChildProcess; lines: () => object[] } {
  const child = spawn(process.execPath, [...nodeArgs, BIN, ...args], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const lines = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as object);
  return { child, lines };
}

async function until<T>(get: () => T | undefined, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out waiting for the CLI');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const exitOf = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

describe('petfl-coordinator CLI', () => {
  it('starts from a TOML file plus environment, serves, and stops cleanly on SIGTERM', async () => {
    const config = join(dir, 'petfl.toml');
    writeFileSync(config, `[model]\nlength = 100\n[models]\ndir = "${join(dir, 'models')}"\n`);
    const { child, lines } = run(['--config', config], { PETFL_API_PORT: '0', PETFL_API_ADMIN_TOKEN: 'cli-token' });
    const exited = exitOf(child);
    const listening = await until(() => lines().find((l) => 'url' in l) as { url: string } | undefined);
    const params = (await (await fetch(`${listening.url}/params`)).json()) as { modelLength: number };
    expect(params.modelLength).toBe(100);
    const status = await fetch(`${listening.url}/admin/status`, { headers: { authorization: 'Bearer cli-token' } });
    expect(status.status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const msgs = lines().map((l) => (l as { msg?: string }).msg);
    expect(msgs).toContain('round started');
    expect(msgs).toContain('stopped');
    expect(JSON.stringify(lines())).not.toContain('cli-token');
  });

  it('runs a training run from its [run] table, starting from run.initial_model', async () => {
    const config = join(dir, 'run.toml');
    const initial = join(dir, 'init.f32');
    writeFileSync(initial, new Uint8Array(Float32Array.from({ length: 10 }, (_, i) => i / 4).buffer));
    writeFileSync(
      config,
      `[model]\nlength = 10\n[models]\ndir = "${join(dir, 'run-models')}"\n` +
        `[run]\nenabled = true\nstrategy = "fedyogi"\ncontrol_variates = true\nmetrics = ["loss"]\ninitial_model = "${initial}"\n`,
    );
    const { child, lines } = run(['--config', config], { PETFL_API_PORT: '0', PETFL_API_ADMIN_TOKEN: 'cli-token' });
    const exited = exitOf(child);
    const listening = await until(() => lines().find((l) => 'url' in l) as { url: string } | undefined);
    // The masked vector: 10 weights, 10 control-variate entries, the evaluation weight and the loss.
    const params = (await (await fetch(`${listening.url}/params`)).json()) as { modelLength: number };
    expect(params.modelLength).toBe(22);
    const { run: info } = (await (await fetch(`${listening.url}/run`)).json()) as {
      run: { strategy: string; modelRoundId: number };
    };
    expect(info).toMatchObject({ strategy: 'fedyogi', modelRoundId: 0 });
    const model = decodeGlobalModel(new Uint8Array(await (await fetch(`${listening.url}/model`)).arrayBuffer()));
    // Round 0's model: the initial weights, then a zero control variate.
    expect(model.roundId).toBe(0);
    expect([...model.model]).toEqual([...Float32Array.from({ length: 10 }, (_, i) => i / 4), ...new Float32Array(10)]);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it("logs how V8's growing factor was settled: the setting, 0 for V8's own, or the operator's Node flag", async () => {
    const cases: [Record<string, string>, string[], object][] = [
      [{}, [], { kind: 'set', percent: 200 }],
      [{ PETFL_API_HEAP_GROWING_PERCENT: '0' }, [], { kind: 'v8-default' }],
      [{}, ['--heap-growing-percent=120'], { kind: 'node-flag', flag: '--heap-growing-percent=120' }],
    ];
    for (const [env, nodeArgs, expected] of cases) {
      const settings = { PETFL_API_PORT: '0', PETFL_MODELS_DIR: join(dir, 'hg-models'), ...env };
      const { child, lines } = run([], settings, nodeArgs);
      const exited = exitOf(child);
      const listening = await until(
        () => lines().find((l) => 'url' in l) as { url: string; heapGrowing: object } | undefined,
      );
      expect(listening.heapGrowing).toEqual(expected);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });

  it('refuses to start on a non-loopback host with the default admin token, naming PETFL_API_ADMIN_TOKEN', async () => {
    const { child, lines } = run(['--host', '0.0.0.0'], { PETFL_API_PORT: '0' });
    expect(await exitOf(child)).toBe(1);
    const error = lines().find((l) => (l as { msg?: string }).msg === 'refusing to start') as { problems: string[] };
    expect(error.problems.join('\n')).toMatch(/PETFL_API_ADMIN_TOKEN/);
    expect(lines().some((l) => 'url' in l)).toBe(false);
  });

  it('--generate-admin-token prints a fresh 32-byte base64url token and exits', async () => {
    const tokens: string[] = [];
    for (let i = 0; i < 2; i++) {
      const child = spawn(process.execPath, [BIN, '--generate-admin-token'], {
        env: { PATH: process.env['PATH'] ?? '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      expect(await exitOf(child)).toBe(0);
      expect(out).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
      tokens.push(out.trim());
    }
    expect(tokens[0]).not.toBe(tokens[1]);
  });

  it('exits 1 and lists every invalid setting', async () => {
    const { child, lines } = run([], { PETFL_API_PORT: 'x', PETFL_PET_SUM_PROBABILITY: '2', PETFL_NOPE: '1' });
    expect(await exitOf(child)).toBe(1);
    const error = lines().find((l) => (l as { msg?: string }).msg === 'invalid settings') as { problems: string[] };
    expect(error.problems).toHaveLength(3);
  });
});
