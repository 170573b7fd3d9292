/**
 * BENCHMARK ONLY: the plain averaging server (plain-coordinator.ts) as a process of its own,
 * as `npm run bench:e2e` runs it beside petfl's coordinator process (bench-coordinators.ts):
 *
 *   node --import tsx e2e/support/plain-coordinator-main.ts <modelLength> '<update phase JSON>'
 *
 * It prints one JSON line `{"url": …}` once it listens, and closes and exits on SIGTERM or SIGINT
 * (so a V8 CPU profile asked for with `--cpu-prof` is written).
 */

import type { PhaseConfig } from './coordinator.ts';
import { startPlainCoordinator } from './plain-coordinator.ts';

const [lengthArg, phaseArg] = process.argv.slice(2);
const modelLength = Number(lengthArg);
if (!Number.isInteger(modelLength) || modelLength < 1) {
  throw new Error(`model length: expected an integer ≥ 1, got ${lengthArg}`);
}
const update = JSON.parse(phaseArg ?? 'null') as PhaseConfig | null;
if (update === null || [update.min, update.max, update.minMs, update.maxMs].some((x) => !Number.isFinite(x))) {
  throw new Error(`update phase: expected {"min","max","minMs","maxMs"}, got ${phaseArg}`);
}
const server = await startPlainCoordinator(modelLength, update);
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
