/**
 * `npm start`: the petfl demo in one command.
 *
 * 1. A coordinator (the embedded default store: memory) with demo settings:
 *    `model.length` = the demo page's dense model (apps/web/src/demo.ts),
 *    CORS for the app's origin, and phase times of a second or two, so a round
 *    completes in a few seconds.
 * 2. Headless Node participants (apps/web/node/participants.ts, a child
 *    process so their training never stalls the coordinator): the SDK and
 *    @petfl/tfjs on the wasm backend, each on its own MNIST shard. They are
 *    needed: a round needs ≥ 3 update participants, and some participants of
 *    every round draw the sum task instead, so three tabs alone could not
 *    complete rounds reliably.
 * 3. The demo app (Vite dev server, apps/web) on http://127.0.0.1:5173.
 *
 * Then it prints the URLs to open. Ctrl-C stops everything.
 * `npm start -- --node-participants 0` runs without the Node participants;
 * PETFL_* environment variables override the demo settings as for the
 * coordinator CLI (`npx petfl-coordinator` runs the coordinator alone).
 *
 * `npm start -- --strategy fedadam` (fedavg, fedavgm, fedadagrad, fedadam, fedyogi; `none`, the
 * default, is the plain averaging above) makes it a training run (docs/learning.md): the
 * participants send updates and their loss and accuracy of the global model, the strategy (with
 * Flower's default hyper-parameters) makes the next global model, and the run starts from the
 * demo's shared initial weights, written to a temporary `.f32` file as `run.initial_model`.
 * `--early-stop-patience N` ends it after N evaluations without a lower loss.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseSettings, SettingsError } from '@petfl/coordinator';
import { listen } from '@petfl/coordinator/node';
import { pino } from 'pino';
import { createServer } from 'vite';
import { DEMO_NODE_PARTICIPANTS, DEMO_ROUND, DEMO_SHARDS, DEMO_TABS, MODEL_LENGTH } from '../apps/web/src/demo.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const webRoot = join(root, 'apps/web');

const TABS = DEMO_TABS;
const NODE_PARTICIPANTS = DEMO_NODE_PARTICIPANTS;
const SHARDS = DEMO_SHARDS;
const ADMIN_TOKEN = 'petfl-demo';
const APP_PORT = 5173;

const STRATEGIES = ['fedavg', 'fedavgm', 'fedadagrad', 'fedadam', 'fedyogi'];

const { values } = parseArgs({
  options: {
    'node-participants': { type: 'string', default: String(NODE_PARTICIPANTS) },
    port: { type: 'string', default: '8081' },
    strategy: { type: 'string', default: 'none' },
    'early-stop-patience': { type: 'string', default: '0' },
  },
});
const nodeParticipants = Number(values['node-participants']);
if (!Number.isInteger(nodeParticipants) || nodeParticipants < 0 || nodeParticipants > NODE_PARTICIPANTS) {
  throw new Error(
    `--node-participants: expected an integer in 0..${NODE_PARTICIPANTS}, got ${values['node-participants']}`,
  );
}

const strategy = values.strategy === 'none' ? undefined : values.strategy;
if (strategy !== undefined && !STRATEGIES.includes(strategy)) {
  throw new Error(`--strategy: expected none or one of ${STRATEGIES.join(', ')}, got ${values.strategy}`);
}
const patience = Number(values['early-stop-patience']);
if (!Number.isInteger(patience) || patience < 0) {
  throw new Error(`--early-stop-patience: expected an integer ≥ 0, got ${values['early-stop-patience']}`);
}
if (strategy === undefined && patience > 0) throw new Error('--early-stop-patience: only with --strategy');

const modelsDir = mkdtempSync(join(tmpdir(), 'petfl-demo-models-'));
/** A training run's files (its initial model), outside models.dir. */
const runDir = strategy === undefined ? undefined : mkdtempSync(join(tmpdir(), 'petfl-demo-run-'));
const appOrigins = [`http://127.0.0.1:${APP_PORT}`, `http://localhost:${APP_PORT}`];

/**
 * The demo settings. Sum: 30% of the participants, one is enough; the
 * phase waits 1 s for more. Update: everyone else (probability 1), at least 3,
 * 3 s for the tabs to train. Sum2: one is enough, 1 s for the others.
 * A phase that misses its minimum fails the round after time.max (5–10 s) and
 * the next round starts. Mask bound b4 (|scalar · weight| ≤ 10⁴, protocol.md
 * §4.6): the scalar is a participant's number of local examples (~1100), so
 * b2's 10² would clamp every weight to ±0.09.
 */
/** A phase of DEMO_ROUND (apps/web/src/demo.ts, which the e2e contribution test runs too) in the file's form. */
function phaseToml(phase: { min: number; max: number; minMs: number; maxMs: number }): string {
  return `count = { min = ${phase.min}, max = ${phase.max} }\ntime = { min_ms = ${phase.minMs}, max_ms = ${phase.maxMs} }`;
}

/**
 * The training run (docs/learning.md): `[model] length` stays the model's weights P; the
 * participants add their loss and accuracy of the global model to what they mask. Round 0's
 * global model is the shared initial model every tab and Node participant builds, so the first
 * updates are relative to the model they start from. Loaded only for a run: it brings
 * TensorFlow.js into this process.
 */
async function runToml(dir: string, name: string): Promise<string> {
  const { demoInitialModel, writeF32 } = await import('../apps/web/node/initial-model.ts');
  const initial = join(dir, 'initial.f32');
  writeF32(initial, await demoInitialModel());
  return `
[run]
enabled = true
send = "update"
strategy = "${name}"
metrics = ["loss", "accuracy"]
initial_model = "${initial.replaceAll('\\', '/')}"
[run.early_stopping]
metric = "loss"
mode = "min"
patience = ${patience}
`;
}

const DEMO_TOML = `
[api]
port = ${Number(values.port)}
admin_token = "${ADMIN_TOKEN}"
cors_origins = [${appOrigins.map((o) => `"${o}"`).join(', ')}]
[safety]
# The demo's rounds are small (3 tabs + 5 Node participants): fewer than 3 sum participants
# are allowed here, which no deployment should do (docs/security.md §1).
allow_unsafe_small_rounds = true
# Scalars are example counts (~1100 per participant).
scalar_min = 1
scalar_max = 10000
[pet.sum]
probability = ${DEMO_ROUND.sumProbability}
${phaseToml(DEMO_ROUND.sum)}
[pet.update]
probability = 1.0
${phaseToml(DEMO_ROUND.update)}
[pet.sum2]
${phaseToml(DEMO_ROUND.sum2)}
[mask]
bound = "b4"
[model]
length = ${MODEL_LENGTH}
[models]
dir = "${modelsDir.replaceAll('\\', '/')}"
${strategy === undefined || runDir === undefined ? '' : await runToml(runDir, strategy)}`;

const logger = pino({ name: 'petfl-coordinator', level: process.env['LOG_LEVEL'] ?? 'warn' });
let settings: ReturnType<typeof parseSettings>;
try {
  settings = parseSettings(DEMO_TOML, process.env);
} catch (error) {
  if (error instanceof SettingsError) console.error(`invalid settings:\n  ${error.problems.join('\n  ')}`);
  throw error;
}
const coordinator = await listen(settings, { logger });

let participants: ChildProcess | undefined;
if (nodeParticipants > 0) {
  participants = spawn(
    process.execPath,
    [
      '--conditions=@petfl/source',
      '--import',
      'tsx',
      join(webRoot, 'node/participants.ts'),
      '--url',
      coordinator.url,
      '--first-shard',
      String(TABS),
      '--count',
      String(nodeParticipants),
      '--shards',
      String(SHARDS),
    ],
    { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] },
  );
}

const vite = await createServer({ configFile: join(webRoot, 'vite.config.ts'), root: webRoot, logLevel: 'warn' });
await vite.listen();
const app = `http://127.0.0.1:${APP_PORT}`;
const coord = encodeURIComponent(coordinator.url);
const tabs = Array.from(
  { length: TABS },
  (_, shard) => `  ${app}/participant.html?coordinator=${coord}&shard=${shard}&shards=${SHARDS}`,
);
console.log(`
petfl demo
  coordinator  ${coordinator.url}  (model of ${MODEL_LENGTH} weights, admin token "${ADMIN_TOKEN}")${
    strategy === undefined
      ? ''
      : `\n  run          ${strategy}, secure evaluation of loss and accuracy${patience > 0 ? `, early stopping after ${patience} evaluations without a lower loss` : ''}`
  }
  node         ${nodeParticipants} headless participants on shards ${TABS}..${SHARDS - 1} of ${SHARDS}
  app          ${app}/?coordinator=${coord}

Open three participant tabs (shards 0..2):
${tabs.join('\n')}
and the dashboard:
  ${app}/dashboard.html?coordinator=${coord}
  (it asks for the admin token: "${ADMIN_TOKEN}")

Ctrl-C stops everything.
`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  const child = participants;
  const exited =
    child === undefined || child.exitCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
          setTimeout(() => {
            child.kill('SIGKILL');
            resolve();
          }, 3000).unref();
        });
  await Promise.allSettled([exited, vite.close(), coordinator.close()]);
  rmSync(modelsDir, { recursive: true, force: true });
  if (runDir !== undefined) rmSync(runDir, { recursive: true, force: true });
  process.exit(0);
}
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
participants?.on('exit', (code) => {
  if (!stopping && code !== 0) console.error(`node participants exited with ${code}`);
});
