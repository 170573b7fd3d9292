/**
 * The Vite fixture (e2e/consumers/vite): `npm create vite` (vanilla-ts, TypeScript's
 * `erasableSyntaxOnly`, `verbatimModuleSyntax`, … untouched) with `@petfl/sdk`, `@petfl/tfjs`
 * and TensorFlow.js from the packed tarballs, and no Vite configuration. `npm run build`
 * (`tsc && vite build`) must pass; the built page, opened in Chromium, joins a real coordinator
 * in Worker mode and receives its global model. The same fixture measures the bundle sizes and
 * the time a page takes to join, next to the demo's participant page
 * (bench/results/bundle.json, written when PETFL_WRITE_BUNDLE=1).
 */

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, expect, inject, it } from 'vitest';
import { CHROMIUM_PATH, launchChromium } from '../../packages/sdk/browser-test/support/chromium.ts';
import { startFederation } from '../../packages/sdk/browser-test/support/federation.ts';
import { ROOT } from '../../scripts/pack.ts';
import { serveStatic, webBuild } from '../support/web-app.ts';
import { type Fixture, installFixture } from './support/fixture.ts';
import { startPageCoordinator } from './support/vite-coordinator.ts';
import {
  demoParticipantUrl,
  type JoinSample,
  median,
  OpenPage,
  timeDemoJoin,
  timeFixtureJoin,
} from './support/vite-pages.ts';
import {
  buildSizePage,
  type EsbuildSizes,
  inRepoSizes,
  isWorkerChunk,
  kib,
  libsodiumSize,
  packagedSizes,
  type Size,
  viteChunks,
} from './support/vite-sizes.ts';

/** The fixture page's model: 4 → 3 → 2 dense (vite/src/main.ts). */
const MODEL_LENGTH = 23;
const PAGES = 3;
/** Node participants (browser-test's, sending zeros) besides the pages: a round needs a sum participant and 3 updates. */
const NODE_PARTICIPANTS = 4;
const JOIN_REPETITIONS = 5;

/**
 * The size budget (gzip -9 bytes). The issue states 5.7 KB and 208 KB for today's in-repo build:
 * KiB as packages/sdk/browser-test/build.ts prints them, matching the build at 53ff073 (5,790
 * and 213,261 bytes). Since then 754a64a (X25519 key checks, crypto failures as PetErrors) and
 * 83c953b (the admission token option) grew the repository's own build to 6,032 and 216,812
 * bytes. So the main thread (what a Vite page importing `spawnAsyncParticipant` ships, Vite's
 * module-preload polyfill included) is held to 5.7 KiB; the Worker to 212 KiB and to the
 * in-repo Worker script measured in the same run (like with like). Issue 13 then added to the
 * Worker the bit-packed mask object codec (ADR 0010), signing and sealing in libsodium's heap,
 * the payload saved once while sending (state-saver.ts) and GET /model revalidation: 215,268 →
 * 217,505 bytes; the Worker's budget is 214 KiB since. Issue 15 then gave the Worker the
 * participant's side of differential privacy (docs/privacy.md): the exact samplers (Skellam, the
 * discrete Gaussian and Laplace, on exact rationals), the RDP accountant a participant checks a
 * round's ε with, conditional randomized rounding and the privacy filters: 217,505 → 228,442
 * bytes; the Worker's budget is 225 KiB since. The main thread stays within 5.7 KiB (the filters
 * are checked in the Worker). Issue 13 then verified large signatures with node:crypto behind
 * libsodium's own checks (ADR 0013's amendment): code that runs on Node.js only but is bundled
 * with the rest of crypto/native.ts, 229,971 → 230,418 bytes; the Worker's budget is
 * 226 KiB since. Issue 13 then gave the participant a transport over node:http on Node.js (ADR
 * 0015), which the runtime chooses where the participant runs, so it is in the Worker (dead code
 * in a browser, reached only through process.getBuiltinModule) and not on the main thread:
 * 231,078 → 232,081 bytes; the Worker's budget is 227 KiB since. X25519 through node:crypto
 * for opening sealed boxes (ADR 0013's amendment of 2026-12-04), also Node.js-only and bundled
 * with crypto/native.ts: 232,081 → 232,583 bytes; the Worker's budget is 228 KiB since. Issue 13
 * then gave two-limb mask elements (33 to 64 bits: the demo's power2/f32/b4/m3) loops of their
 * own for masking, drawing, adding and reading, with encodings below 2^53 in doubles (masking 10⁶
 * weights 140 → 23 ms, bench/results/core.json), and the SDK `handOver` (a model checked in place):
 * 233,197 → 233,894 bytes together; the Worker's budget is 229 KiB since. Issue 13 then had sum
 * participants derive the seeds so far during the update phase (ADR 0017: the early work and its
 * checks, `so_far` reads in the HTTP client, the loop's cadence), send the Sum before taking the
 * round's model, and write a chunk's progress while the next one is posted: the Vite Worker chunk
 * 234,601 bytes at f1f5f05 (over 229 KiB by 105); the Worker's budget is 230 KiB since. Issue 13
 * then kept masked models packed at the coordinator (ADR 0018): the packed branches of
 * writeMaskObject and Aggregation, which the Worker carries though only the coordinator takes
 * them (the packed loops themselves, mask/packed.ts, are left out): 235,473 → 235,607 bytes; the
 * Worker's budget is 231 KiB since. Issue 13 then changed the message envelope (ADR 0019): the
 * Worker seals with libsodium's XChaCha20-Poly1305 in place (its own path), and carries the
 * Node-only path through OpenSSL's ChaCha20-Poly1305 with its self-test and checks (crypto/native.ts,
 * bundled though never reached in a browser): 235,607 → 236,567 bytes; the Worker's budget is
 * 232 KiB since. Issue 13 then drew the mask keystream four blocks at a time with WebAssembly SIMD
 * (crypto/chacha20-simd.ts: a 2.9 KB module carried as base64url, which gzip barely shrinks, and its
 * self-check against libsodium): 236,567 → 238,684 bytes; the Worker's budget is 234 KiB since.
 */
const BUDGET = { mainThreadGzip: 5.7 * 1024, workerGzip: 234 * 1024 } as const;

/** The template's TypeScript settings the fixture must keep (npm create vite, vanilla-ts). */
const TEMPLATE_COMPILER_OPTIONS = {
  moduleResolution: 'bundler',
  verbatimModuleSyntax: true,
  erasableSyntaxOnly: true,
  noUnusedLocals: true,
  noUnusedParameters: true,
  noFallthroughCasesInSwitch: true,
  allowImportingTsExtensions: true,
  moduleDetection: 'force',
  noEmit: true,
  types: ['vite/client'],
};

const haveChromium = existsSync(CHROMIUM_PATH) || process.env['CI'] !== undefined;
if (!haveChromium) console.warn(`[consumers] vite: no Chromium at ${CHROMIUM_PATH}: the browser checks are skipped`);

let fixture: Fixture;
let browser: Browser | undefined;
const report: Record<string, unknown> = {};

let anyFailed = false;

beforeAll(() => {
  fixture = installFixture('vite', inject('packs'));
});

beforeEach((context) => {
  context.onTestFailed(() => {
    anyFailed = true;
  });
});

afterAll(async () => {
  await browser?.close();
  fixture?.remove();
  if (process.env['PETFL_WRITE_BUNDLE'] !== '1') return;
  const path = join(ROOT, 'bench/results/bundle.json');
  const { date, machine, budget, vite, esbuild, app, joined } = report;
  if (anyFailed || [date, machine, budget, vite, esbuild, app, joined].includes(undefined)) {
    console.warn(`[consumers] vite: a test failed or was skipped, ${path} left as it was`);
    return;
  }
  const results = { date, machine, budget, sizes: { vite, esbuild, app }, joined };
  writeFileSync(path, `${JSON.stringify(results, null, 2)}\n`);
  console.warn(`[consumers] vite: wrote ${path}`);
});

async function chromium(): Promise<Browser> {
  browser ??= await launchChromium();
  return browser;
}

/** `fixture.run`, failing with what the command printed (tsc reports on stdout). */
function runInFixture(command: string, args: readonly string[]): string {
  try {
    return fixture.run(command, args);
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed in the fixture:\n${stdout ?? ''}\n${stderr ?? String(error)}`);
  }
}

function onlyChunk(chunks: Map<string, Size>, test: (name: string) => boolean, what: string): [string, Size] {
  const found = [...chunks].filter(([name]) => test(name));
  if (found.length !== 1 || found[0] === undefined) {
    throw new Error(`expected one ${what} chunk, got ${JSON.stringify([...chunks.keys()])}`);
  }
  return found[0];
}

/** A string only libsodium-sumo's wrapper has (the keystream call ADR 0002 chose sumo for). */
const LIBSODIUM_MARK = 'crypto_stream_chacha20_ietf_xor_ic';

it('installs from the tarballs, type-checks with the template settings and builds with no Vite config', () => {
  runInFixture('npm', ['run', 'build']);

  expect(readdirSync(fixture.dir).filter((f) => /^vite\.config\./.test(f))).toEqual([]);
  // tsconfig.json is JSONC: the template's block comments go before parsing.
  const tsconfigText = readFileSync(join(fixture.dir, 'tsconfig.json'), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  const tsconfig = JSON.parse(tsconfigText) as { compilerOptions: Record<string, unknown> };
  expect(tsconfig.compilerOptions).toMatchObject(TEMPLATE_COMPILER_OPTIONS);
  const manifest = JSON.parse(readFileSync(join(fixture.dir, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  expect(manifest.scripts['build']).toBe('tsc && vite build');

  const dist = join(fixture.dir, 'dist');
  const chunks = viteChunks(dist);
  const [workerName, worker] = onlyChunk(chunks, isWorkerChunk, 'Worker');
  const [mainName] = onlyChunk(chunks, (name) => /^index-[\w-]+\.js$/.test(name), 'page');
  const mainCode = readFileSync(join(dist, 'assets', mainName), 'utf8');
  const workerCode = readFileSync(join(dist, 'assets', workerName), 'utf8');
  // The page starts the Worker by its built URL; libsodium and the protocol engine are in the Worker only.
  expect(mainCode).toContain(workerName);
  expect(mainCode).not.toContain(LIBSODIUM_MARK);
  expect(workerCode).toContain(LIBSODIUM_MARK);
  report['app'] = {
    what: 'the fixture app (vite/src/main.ts: TensorFlow.js, @petfl/tfjs, @petfl/sdk/worker), vite build',
    chunks: Object.fromEntries([...chunks].map(([name, size]) => [name.replace(/-[\w-]{8}\.js$/, '.js'), size])),
  };
  expect(worker.gzip).toBeGreaterThan(0);
});

it.skipIf(!haveChromium)(
  `${PAGES} built pages join a real coordinator in Worker mode and receive its global model`,
  async () => {
    const site = await serveStatic(join(fixture.dir, 'dist'));
    const coordinator = await startPageCoordinator(MODEL_LENGTH);
    const nodes = await startFederation(coordinator.url, {
      count: NODE_PARTICIPANTS,
      modelLength: MODEL_LENGTH,
      mode: 'auto',
    });
    const tabs: OpenPage[] = [];
    try {
      const b = await chromium();
      for (let seed = 1; seed <= PAGES; seed++) {
        const tab = await OpenPage.open(b);
        tabs.push(tab);
        await tab.page.goto(
          `${site.origin}/?${new URLSearchParams({ coordinator: coordinator.url, seed: String(seed) })}`,
        );
      }
      for (const tab of tabs) {
        const state = await tab.waitJoined();
        expect(state.backend).toBe('wasm');
        expect(state.weightCount).toBe(MODEL_LENGTH);
        expect(state.participantPk).toMatch(/^[\w-]{43}$/);
        // Worker mode for real: the page runs the SDK's Worker, Vite's separate chunk.
        expect(tab.page.workers().map((w) => new URL(w.url()).pathname)).toContainEqual(
          expect.stringMatching(/^\/assets\/worker-entry-[\w-]+\.js$/),
        );
      }
      const pks = new Set<string>();
      for (const tab of tabs) {
        const state = await tab.waitPagesModel(300_000);
        expect(await tab.status()).toBe('global model');
        const got = state.received.find((m) => m.weights.some((w) => w !== 0));
        if (got === undefined) throw new Error('no global model recorded');
        // What the page got is what the coordinator published for a completed round (two rounds
        // with the same updates publish the same model: the latest of them before the page saw it).
        const completed = (await coordinator.history()).filter((r) => r.outcome === 'completed');
        const matching: number[] = [];
        for (const round of completed) {
          const model = await coordinator.model(round.roundId);
          if (model !== undefined && sameWeights(model, got.weights)) matching.push(round.roundId);
        }
        const seenInRound = got.seenInRound ?? Number.POSITIVE_INFINITY;
        const roundId = Math.max(...matching.filter((r) => r <= seenInRound));
        expect(matching.length, `rounds published: ${completed.map((r) => r.roundId).join(', ')}`).toBeGreaterThan(0);
        expect(roundId).toBeGreaterThan(0);
        expect(completed.find((r) => r.roundId === roundId)?.participants.update).toBeGreaterThanOrEqual(3);
        pks.add(state.participantPk ?? '');
      }
      expect(pks.size).toBe(PAGES);
      for (const tab of tabs) expect(tab.problems).toEqual([]);
    } finally {
      await Promise.all(tabs.map((t) => t.close()));
      await nodes.stop();
      await coordinator.close();
      await site.close();
    }
  },
);

/** The coordinator keeps the unmasked model in float64; the page's `data_type = f32` model is it as float32. */
function sameWeights(model: Float32Array | Float64Array, weights: readonly number[]): boolean {
  return model.length === weights.length && model.every((w, i) => Math.fround(w) === weights[i]);
}

it('the packaged SDK stays within the size budget (gzip -9 bytes)', async () => {
  const workerPage = buildSizePage(fixture, 'sdk-worker');
  const [, mainThread] = onlyChunk(workerPage, (name) => /^index-[\w-]+\.js$/.test(name), 'page');
  const [, worker] = onlyChunk(workerPage, isWorkerChunk, 'Worker');
  expect(workerPage.size).toBe(2);
  const [, viteBaseline] = onlyChunk(buildSizePage(fixture, 'empty'), () => true, 'page');
  const corePage = buildSizePage(fixture, 'core');
  const [, coreNamespace] = onlyChunk(corePage, () => true, 'page');
  const [inRepo, packaged, libsodium] = await Promise.all([
    inRepoSizes(),
    packagedSizes(fixture),
    libsodiumSize(fixture),
  ]);

  report['date'] = new Date().toISOString();
  report['budget'] = {
    what: 'gzip -9 bytes; see BUDGET in e2e/consumers/vite.test.ts',
    mainThreadGzip: Math.round(BUDGET.mainThreadGzip),
    workerGzip: BUDGET.workerGzip,
    workerNoLargerThan: 'the in-repo Worker script measured in the same run (esbuild, like with like)',
  };
  report['vite'] = {
    what: "the fixture app's own Vite (no config) building one-import pages (vite/sizes/*/index.html)",
    sdkWorkerMainThread: {
      ...mainThread,
      page: "import { spawnAsyncParticipant } from '@petfl/sdk/worker' (kept reachable), nothing else",
      includesViteRuntime: viteBaseline,
    },
    worker: { ...worker, chunk: 'assets/worker-entry-*.js (Vite worker.format default, iife)' },
    coreNamespace: { ...coreNamespace, page: "import * as core from '@petfl/core' (every export, libsodium included)" },
  };
  report['esbuild'] = {
    what: 'esbuild, ESM, minified, ES2022, each entry standalone (packages/sdk/browser-test/build.ts settings)',
    inRepo: { from: 'the sources (@petfl/source)', ...inRepo },
    packaged: { from: 'the packed dist/ as installed in the fixture', ...packaged },
    libsodiumSumo: { ...libsodium, page: 'as docs/decisions/0002-libsodium-sumo.md measured it' },
  };
  console.warn(
    [
      '[consumers] vite: gzip -9 sizes',
      `  Vite   @petfl/sdk/worker main thread ${mainThread.gzip} B (${kib(mainThread.gzip)}, of it Vite's own ${viteBaseline.gzip} B)`,
      `  Vite   Worker chunk                  ${worker.gzip} B (${kib(worker.gzip)})`,
      `  Vite   @petfl/core namespace         ${coreNamespace.gzip} B (${kib(coreNamespace.gzip)})`,
      ...formatEsbuild('in-repo ', inRepo),
      ...formatEsbuild('packaged', packaged),
      `  libsodium-wrappers-sumo                ${libsodium.gzip} B (${kib(libsodium.gzip)})`,
    ].join('\n'),
  );

  expect(mainThread.gzip).toBeLessThanOrEqual(BUDGET.mainThreadGzip);
  expect(worker.gzip).toBeLessThanOrEqual(BUDGET.workerGzip);
  expect(worker.gzip).toBeLessThanOrEqual(inRepo.workerScript.gzip);
  // Like with like: the packed dist/ bundles no larger than the sources do.
  expect(packaged.sdkWorkerMainThread.gzip).toBeLessThanOrEqual(inRepo.sdkWorkerMainThread.gzip);
  expect(packaged.workerScript.gzip).toBeLessThanOrEqual(inRepo.workerScript.gzip);
  expect(packaged.core.gzip).toBeLessThanOrEqual(inRepo.core.gzip);
  // libsodium-sumo is most of the Worker, and none of the main thread (first test).
  expect(libsodium.gzip).toBeLessThan(worker.gzip);
});

function formatEsbuild(label: string, sizes: EsbuildSizes): string[] {
  return [
    `  esbuild ${label} @petfl/sdk/worker ${sizes.sdkWorkerMainThread.gzip} B (${kib(sizes.sdkWorkerMainThread.gzip)})`,
    `  esbuild ${label} Worker script     ${sizes.workerScript.gzip} B (${kib(sizes.workerScript.gzip)})`,
    `  esbuild ${label} @petfl/core       ${sizes.core.gzip} B, without libsodium ${sizes.coreWithoutLibsodium.gzip} B`,
  ];
}

it.skipIf(!haveChromium)(
  "a page with @petfl/sdk/worker joins no slower than the demo's participant page (recorded, not asserted)",
  async () => {
    const demoSite = await serveStatic(webBuild());
    const site = await serveStatic(join(fixture.dir, 'dist'));
    // The fixture page's model length: its setLocalModel checks it. Joining is the same for the
    // demo's page (its updates would be refused, but it is closed once it has joined).
    const coordinator = await startPageCoordinator(MODEL_LENGTH);
    const fixtureSamples: JoinSample[] = [];
    const demoSamples: JoinSample[] = [];
    try {
      const b = await chromium();
      const fixtureUrl = `${site.origin}/?${new URLSearchParams({ coordinator: coordinator.url })}`;
      const demoUrl = (i: number) => demoParticipantUrl(demoSite.origin, coordinator.url, `join-${i}`);
      const loadAtStart = loadavg()[0];
      // One of each first, not counted (disk cache, the servers' first requests).
      await timeFixtureJoin(b, fixtureUrl);
      await timeDemoJoin(b, demoUrl(-1));
      for (let i = 0; i < JOIN_REPETITIONS; i++) {
        // Alternating which goes first, so neither always follows the other.
        if (i % 2 === 0) {
          fixtureSamples.push(await timeFixtureJoin(b, fixtureUrl));
          demoSamples.push(await timeDemoJoin(b, demoUrl(i)));
        } else {
          demoSamples.push(await timeDemoJoin(b, demoUrl(i)));
          fixtureSamples.push(await timeFixtureJoin(b, fixtureUrl));
        }
      }
      const summary = (samples: JoinSample[]) => ({
        medianMs: Math.round(median(samples.map((s) => s.pageMs))),
        ...(samples.every((s) => s.spawnToJoinedMs !== undefined)
          ? { medianSpawnToJoinedMs: Math.round(median(samples.map((s) => s.spawnToJoinedMs ?? 0))) }
          : {}),
        medianWallMs: Math.round(median(samples.map((s) => s.wallMs))),
        samplesMs: samples.map((s) => Math.round(s.pageMs)),
        wallSamplesMs: samples.map((s) => s.wallMs),
      });
      report['joined'] = {
        what:
          "ms from navigation start to 'joined' (performance.now() in the page when the participant had joined; " +
          'wall: from page.goto to the test seeing it); each page in a fresh browser context, both against one coordinator',
        repetitions: JOIN_REPETITIONS,
        fixture: {
          page: 'vite fixture (packed packages, Vite, Worker mode; wasm backend and a short fit before joining)',
          ...summary(fixtureSamples),
        },
        demo: {
          page: 'apps/web participant.html, e2e build from the sources (Worker mode, backends=wasm,cpu, MNIST shard load)',
          ...summary(demoSamples),
        },
      };
      report['machine'] = {
        node: process.version,
        chromium: b.version(),
        cpu: cpus()[0]?.model.trim() ?? 'unknown',
        cores: cpus().length,
        loadAverage1m: { atStart: loadAtStart, atEnd: loadavg()[0] },
      };
      console.warn(`[consumers] vite: joined ${JSON.stringify(report['joined'], null, 2)}`);
      for (const s of [...fixtureSamples, ...demoSamples]) expect(s.pageMs).toBeGreaterThan(0);
    } finally {
      await coordinator.close();
      await site.close();
      await demoSite.close();
    }
  },
);
