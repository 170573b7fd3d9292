/**
 * A multi-tab simulation outside the test runner: N participant tabs (each its own
 * browser context) federate through a real coordinator until R rounds completed, then a
 * report goes to e2e/results/simulate-<time>.json — round latencies and phase durations,
 * bytes each participant sent, failed rounds with their reasons, and the tabs' errors.
 *
 *   npm run simulate -- --tabs 20 --rounds 5 [--store redis] [--backends wasm,cpu] [--epochs 1]
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './support/chromium.ts';
import { DEFAULT_PHASES, startCoordinator } from './support/coordinator.ts';
import { participantUrl, Tab } from './support/tab.ts';
import { REPO_ROOT, serveStatic, webBuild } from './support/web-app.ts';
import { webModelLength } from './support/web-model.ts';

const log = (line: string) => process.stdout.write(`${line}\n`);

function options() {
  const { values } = parseArgs({
    options: {
      tabs: { type: 'string', default: '20' },
      rounds: { type: 'string', default: '5' },
      store: { type: 'string', default: 'memory' },
      backends: { type: 'string', default: 'wasm,cpu' },
      epochs: { type: 'string', default: '1' },
      'timeout-s': { type: 'string', default: '900' },
    },
  });
  const int = (name: string, raw: string | undefined, min: number) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected an integer ≥ ${min}, got ${raw}`);
    return n;
  };
  const store = values.store;
  if (store !== 'memory' && store !== 'redis') throw new Error(`--store: expected memory or redis, got ${store}`);
  return {
    tabs: int('tabs', values.tabs, 1),
    rounds: int('rounds', values.rounds, 1),
    store,
    backends: values.backends,
    epochs: int('epochs', values.epochs, 1),
    timeoutMs: int('timeout-s', values['timeout-s'], 1) * 1000,
  } as const;
}

async function main(): Promise<void> {
  const opts = options();
  const server = await serveStatic(webBuild());
  const coordinator = await startCoordinator({
    ...DEFAULT_PHASES,
    // Many tabs on few cores train slowly: a longer update phase before a round gives up.
    update: { ...DEFAULT_PHASES.update, maxMs: 60_000 },
    modelLength: webModelLength(),
    store: opts.store,
  });
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_ARGS],
  });
  const started = Date.now();
  const tabs: Tab[] = [];
  try {
    for (let shard = 0; shard < opts.tabs; shard += 2) {
      const batch = [shard, shard + 1].filter((s) => s < opts.tabs);
      const opened = await Promise.all(
        batch.map((s) =>
          Tab.open(
            browser,
            participantUrl(server.origin, coordinator.url, {
              shard: s,
              shards: opts.tabs,
              backends: opts.backends,
              epochs: opts.epochs,
            }),
            `tab-${s}`,
          ),
        ),
      );
      tabs.push(...opened);
      log(`opened ${tabs.length}/${opts.tabs} tabs (${Math.round((Date.now() - started) / 1000)} s)`);
    }
    const joinedAt = Date.now();
    const joinedMs = joinedAt - started;
    // Only rounds that started once every tab had joined count (earlier ones had fewer tabs).
    const counted = (r: { startedAt: number }) => r.startedAt >= joinedAt;
    const deadline = Date.now() + opts.timeoutMs;
    let completed = 0;
    let lastLine = '';
    while (completed < opts.rounds && Date.now() < deadline) {
      const history = (await coordinator.history()).filter(counted);
      completed = history.filter((r) => r.outcome === 'completed').length;
      const s = coordinator.status();
      const line = `round ${s.roundId} ${s.phase}: ${completed}/${opts.rounds} completed, ${history.length - completed} failed`;
      if (line !== lastLine) log(line);
      lastLine = line;
      // Pacing the progress poll only; the simulation itself never waits on time.
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const history = (await coordinator.history()).filter(counted);
    await Promise.all(tabs.map((t) => t.collect().catch(() => [])));
    const snapshots = await Promise.all(tabs.map((t) => t.snapshot().catch(() => null)));
    const report = {
      at: new Date().toISOString(),
      options: opts,
      reached: completed >= opts.rounds,
      joinMs: joinedMs,
      wallMs: Date.now() - started,
      rounds: history.map((r) => ({
        roundId: r.roundId,
        outcome: r.outcome,
        failureReason: r.failureReason,
        latencyMs: r.endedAt - r.startedAt,
        phaseDurationsMs: r.phaseDurationsMs,
        participants: r.participants,
      })),
      participants: tabs.map((t, i) => ({
        tab: t.name,
        participantPk: snapshots[i]?.participantPk,
        bytesSent: snapshots[i]?.bytesSent,
        roundsSubmitted: [...t.recorded.keys()],
        lastError: snapshots[i]?.lastError ?? null,
        problems: t.problems,
      })),
      messages: coordinator.status().messages,
    };
    const dir = join(REPO_ROOT, 'e2e/results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `simulate-${report.at.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    const latencies = report.rounds.filter((r) => r.outcome === 'completed').map((r) => r.latencyMs);
    log(
      `${completed} completed, ${history.length - completed} failed rounds; completed-round latency ms: ${latencies.join(', ')}`,
    );
    log(`report: ${file}`);
    if (!report.reached) process.exitCode = 1;
  } finally {
    await browser.close();
    await coordinator.close();
    await server.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
