/**
 * A plain Node app (e2e/consumers/node/): JavaScript ESM, no TypeScript, no tsx. It installs the
 * packed @petfl/sdk and @petfl/coordinator, starts the coordinator with `npx petfl-coordinator
 * --config petfl.toml` in its own directory, and runs participants written against the SDK's
 * public API (`ParticipantABC`, `spawnParticipant`, `fileStateStore` from `@petfl/sdk/node`)
 * until each has a global model. Every subpath export imports on bare Node — the bug this
 * guards against: dist/ reaching a `.ts` file (ERR_UNKNOWN_FILE_EXTENSION) or a package that is
 * not installed.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Fixture, installFixture } from './support/fixture.ts';
import { type CliCoordinator, startCliCoordinator } from './support/node-coordinator.ts';

const packs = inject('packs');
/** As in e2e/consumers/node/petfl.toml. */
const ADMIN_TOKEN = 'consumer-node-admin-token-2f1c9a7e5b3d';
const MODEL_LENGTH = 16;
const PARTICIPANTS = 5;

/** Subpath exports that must import on bare Node (the fixture lists every one it finds). */
const SUBPATHS = [
  '@petfl/core',
  '@petfl/core/testing',
  '@petfl/sdk',
  '@petfl/sdk/engine',
  '@petfl/sdk/idb',
  '@petfl/sdk/node',
  '@petfl/sdk/worker',
  '@petfl/coordinator',
  '@petfl/coordinator/node',
  '@petfl/coordinator/redis',
  '@petfl/coordinator/prometheus',
];

/** Round races a participant may meet and sits out; anything else is a failure to report. */
const ROUND_RACES = ['wrong-phase', 'phase-full', 'update-too-late', 'wrong-round'];

interface ImportResult {
  readonly specifier: string;
  readonly ok: boolean;
  readonly resolved?: string;
  readonly exports?: readonly string[];
  readonly skipped?: string;
  readonly error?: { readonly code?: string; readonly message: string };
}

interface ParticipantReport {
  readonly node: string;
  readonly modelLength: number;
  readonly step: number;
  readonly latest: {
    status: number;
    etag: string | null;
    roundId: number;
    dataType: number;
    length: number;
    bytes: number;
  };
  readonly participants: readonly {
    participantPk: string;
    roundId: number | null;
    trained: number;
    stateBytes: number;
    models: readonly { type: string; length: number; weights: readonly number[] }[];
  }[];
  readonly stateDir: { mode: number; files: readonly { name: string; mode: number }[] };
  readonly errors: readonly { participant: number; name: string; code?: string; message: string }[];
}

interface RoundSummary {
  readonly roundId: number;
  readonly outcome: 'completed' | 'failed';
  readonly participants: { sum: number; update: number; sum2: number };
}

/** A global model file (protocol.md §3.10): big-endian header, little-endian values. */
function readModelFile(path: string): { roundId: number; model: number[] } {
  const bytes = readFileSync(path);
  const f64 = bytes.readUInt8(4) === 1;
  const count = bytes.readUInt32BE(8);
  const model = Array.from({ length: count }, (_, i) =>
    f64 ? bytes.readDoubleLE(12 + i * 8) : bytes.readFloatLE(12 + i * 4),
  );
  return { roundId: bytes.readUInt32BE(0), model };
}

describe('a plain Node app (ESM JavaScript, no tsx) on the packed packages', () => {
  let fixture: Fixture;
  let coordinator: CliCoordinator | undefined;

  beforeAll(() => {
    fixture = installFixture('node', packs);
  });

  afterAll(async () => {
    await coordinator?.stop(5_000);
    fixture?.remove();
  });

  it('installs no TypeScript runner or compiler: the CLI runs on plain Node', () => {
    let out: string;
    try {
      out = fixture.run('npm', ['ls', '--all', '--json']);
    } catch (error) {
      // npm ls exits 1 on an unmet optional peer; its JSON is still the tree.
      out = (error as { stdout?: string }).stdout ?? '{}';
    }
    const names = new Set<string>();
    type Tree = Record<string, { version?: string; missing?: boolean; dependencies?: Tree }>;
    const walk = (deps: Tree | undefined) => {
      for (const [name, node] of Object.entries(deps ?? {})) {
        // A missing optional peer (valibot's typescript) is listed as {}: not installed.
        if (node.version !== undefined && node.missing !== true) names.add(name);
        walk(node.dependencies);
      }
    };
    walk((JSON.parse(out) as { dependencies?: Tree }).dependencies);
    expect(names).toContain('@petfl/coordinator');
    expect(names).toContain('@petfl/sdk');
    expect(names).toContain('@petfl/core');
    expect(
      [...names].filter((n) => /^(tsx|typescript|ts-node|esbuild|@esbuild\/.*|@swc\/.*|tsdown|rolldown)$/.test(n)),
    ).toEqual([]);

    for (const tool of ['tsx', 'typescript', 'esbuild']) {
      expect(existsSync(join(fixture.dir, 'node_modules', tool)), tool).toBe(false);
    }

    const bin = join(fixture.dir, 'node_modules', '@petfl', 'coordinator', 'dist', 'cli.js');
    expect(readFileSync(bin, 'utf8').split('\n', 1)[0]).toBe('#!/usr/bin/env node');
    expect(readdirSync(join(fixture.dir, 'node_modules', '.bin'))).toContain('petfl-coordinator');
  });

  it('imports every subpath export of @petfl/core, @petfl/sdk and @petfl/coordinator from dist/', () => {
    const results = JSON.parse(fixture.run('node', ['imports.mjs'])) as ImportResult[];
    expect(results.map((r) => r.specifier)).toEqual(expect.arrayContaining(SUBPATHS));
    expect(results.filter((r) => !r.ok && r.skipped === undefined)).toEqual([]);
    // Only the React hook is left out, for want of its optional peer.
    expect(results.filter((r) => r.skipped !== undefined).map((r) => r.specifier)).toEqual(['@petfl/sdk/react']);
    for (const r of results.filter((r) => r.ok)) {
      expect(r.resolved, r.specifier).toMatch(/\/node_modules\/@petfl\/[a-z]+\/dist\/[a-z-]+\.js$/);
      expect(r.exports?.length, r.specifier).toBeGreaterThan(0);
    }
    const exportsOf = (specifier: string) => results.find((r) => r.specifier === specifier)?.exports;
    expect(exportsOf('@petfl/sdk')).toEqual(expect.arrayContaining(['ParticipantABC', 'spawnParticipant']));
    expect(exportsOf('@petfl/sdk/node')).toEqual(['fileStateStore', 'nodeHttpFetch']);
    expect(exportsOf('@petfl/coordinator/node')).toEqual(expect.arrayContaining(['listen', 'FsModelStore']));
  });

  it('npx petfl-coordinator --generate-admin-token prints a fresh 32-byte base64url token', () => {
    const first = fixture.run('npx', ['petfl-coordinator', '--generate-admin-token']);
    const second = fixture.run('npx', ['petfl-coordinator', '--generate-admin-token']);
    expect(first).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
    expect(second).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
    expect(second).not.toBe(first);
  });

  it('runs participants (ParticipantABC, fileStateStore) against `npx petfl-coordinator --config petfl.toml`', async () => {
    const started = Date.now();
    coordinator = await startCliCoordinator(fixture.dir, ['--config', 'petfl.toml'], { adminToken: ADMIN_TOKEN });
    const startMs = Date.now() - started;
    const { url } = coordinator;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const listening = coordinator.logs().lines.find((line) => line.msg.includes('listening'));
    expect(listening).toMatchObject({ store: 'memory', modelsDir: './models', modelLength: MODEL_LENGTH });

    const report = JSON.parse(
      fixture.run('node', ['participant.mjs', url, String(PARTICIPANTS)], { timeoutMs: 180_000 }),
    ) as ParticipantReport;
    const runMs = Date.now() - started - startMs;

    // Every participant received a global model of the round's length, as a Float32Array (f32).
    expect(report.modelLength).toBe(MODEL_LENGTH);
    expect(report.participants).toHaveLength(PARTICIPANTS);
    expect(new Set(report.participants.map((p) => p.participantPk)).size).toBe(PARTICIPANTS);
    expect(report.participants.reduce((n, p) => n + p.trained, 0)).toBeGreaterThan(0);
    const rounds = ((await coordinator.admin('/admin/rounds')) as { rounds: RoundSummary[] }).rounds;
    const completed = rounds.filter((r) => r.outcome === 'completed');
    expect(completed.length).toBeGreaterThan(0);
    for (const round of completed) {
      expect(round.participants.sum).toBeGreaterThan(0);
      expect(round.participants.update).toBeGreaterThan(0);
    }

    // The models dir inside the fixture holds each completed round's global model; what the
    // participants received is one of them, and has the shape every local model had: centre + step·j.
    const modelsDir = join(fixture.dir, 'models');
    const files = new Map(
      readdirSync(modelsDir)
        .filter((name) => /^round-\d+\.bin$/.test(name))
        .map((name) => {
          const file = readModelFile(join(modelsDir, name));
          return [file.roundId, file.model] as const;
        }),
    );
    for (const round of completed)
      expect(files.get(round.roundId)?.length, `round ${round.roundId}`).toBe(MODEL_LENGTH);
    for (const p of report.participants) {
      expect(p.models.length).toBeGreaterThan(0);
      for (const m of p.models) {
        expect(m).toMatchObject({ type: 'Float32Array', length: MODEL_LENGTH });
        const w = m.weights;
        for (let j = 0; j < MODEL_LENGTH; j++) expect((w[j] ?? 0) - (w[0] ?? 0)).toBeCloseTo(report.step * j, 4);
        expect(w[0]).toBeGreaterThanOrEqual(0.1 - 1e-4);
        expect(w[0]).toBeLessThanOrEqual(0.1 * PARTICIPANTS + 1e-4);
        const match = completed.find((round) =>
          (files.get(round.roundId) ?? []).every((x, j) => Math.abs(x - (w[j] ?? Number.NaN)) < 1e-6),
        );
        expect(match, `a participant's model ${JSON.stringify(w)} is no completed round's`).toBeDefined();
      }
    }

    // GET /model serves the latest completed round's model, f32, tagged with its round id.
    expect(report.latest).toMatchObject({
      status: 200,
      dataType: 0,
      length: MODEL_LENGTH,
      bytes: 12 + 4 * MODEL_LENGTH,
    });
    expect(report.latest.etag).toMatch(new RegExp(`^"${report.latest.roundId}-[A-Za-z0-9_-]+"$`));
    expect(completed.map((r) => r.roundId)).toContain(report.latest.roundId);

    // fileStateStore wrote one state file per participant, 0600 in a 0700 directory; a
    // participant stopped while sending a message of up to 64 KiB (as here) also keeps that
    // message's payload, under its own key (architecture.md §5.3), for a restart to finish the send.
    expect(report.stateDir.mode).toBe(0o700);
    const stateFiles = report.stateDir.files.filter((f) => !f.name.includes('%2Fpayload'));
    expect(stateFiles).toEqual(
      Array.from({ length: PARTICIPANTS }, (_, i) => ({ name: `participant-${i}.petfl-state`, mode: 0o600 })),
    );
    for (const f of report.stateDir.files.filter((x) => x.name.includes('%2Fpayload'))) {
      expect(f).toMatchObject({ name: expect.stringMatching(/^participant-\d+%2Fpayload\.petfl-state$/), mode: 0o600 });
    }
    for (const p of report.participants) expect(p.stateBytes).toBeGreaterThan(0);
    expect(report.errors.filter((e) => !ROUND_RACES.includes(e.code ?? ''))).toEqual([]);

    // SIGTERM stops it cleanly.
    const end = await coordinator.stop();
    const messages = coordinator.logs().lines.map((line) => line.msg);
    expect(
      messages,
      `the coordinator's last log lines: ${JSON.stringify(coordinator.logs().lines.slice(-6))}`,
    ).toContain('stopped');
    expect(coordinator.logs().lines.filter((line) => line.level >= 50)).toEqual([]);
    // npx dies of the same SIGTERM; the coordinator's own exit shows in its 'stopped' line above.
    expect(end.signal === 'SIGTERM' || end.code === 0).toBe(true);
    process.stdout.write(
      `[consumers/node] ${report.node}: coordinator up in ${startMs} ms; ${PARTICIPANTS} participants had ` +
        `a global model in ${runMs} ms (rounds ${completed.map((r) => r.roundId).join(', ')} completed)\n`,
    );
  });
});
