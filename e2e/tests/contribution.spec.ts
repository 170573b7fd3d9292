/**
 * Training keeps up with the demo's rounds: what `npm start` runs (its coordinator settings,
 * apps/web/src/demo.ts DEMO_ROUND; its five headless Node participants) and three participant
 * tabs on the default backend list, so each tab picks its backend by timing a training step
 * (on a machine without a GPU: wasm, not SwiftShader's WebGPU) and trains between rounds. Over
 * ROUNDS rounds, each tab's update is accepted in at least 80 % of the completed rounds in which
 * it drew the update task, and at least 90 % of the rounds complete.
 *
 * The rounds are as long as the demo's (the paced driver, support/paced-driver.ts): each phase
 * lasts its configured time.min by the wall clock — the time the tabs have to train — and is
 * held open only while a participant is in the middle of the protocol (knowing its task,
 * masking, sending), never for training. So the test measures whether real training keeps up,
 * without racing the machine on the protocol's own work.
 *
 * A round the task draw dooms (nobody drew sum — 0.7⁸ ≈ 6 % with eight participants — or fewer
 * than three drew update) fails by design whatever the tabs do: it is reported and not counted;
 * the test waits for ROUNDS rounds the draw allowed to complete. Counted in rounds, not seconds:
 * ROUNDS_BACKSTOP_MS only bounds a hang.
 */

import type { RoundSummary } from '@petfl/coordinator';
import { DEFAULT_EPOCHS, DEMO_NODE_PARTICIPANTS, DEMO_ROUND, DEMO_SHARDS, DEMO_TABS } from '../../apps/web/src/demo.ts';
import { expect, test } from '../support/fixtures.ts';
import { type NodeParticipants, startNodeParticipants } from '../support/node-participants.ts';
import { PacedDriver, type PacedParticipant } from '../support/paced-driver.ts';
import { ROUNDS_BACKSTOP_MS } from '../support/rounds.ts';
import { participantUrl, Tab } from '../support/tab.ts';

const ROUNDS = 10;
const ACCEPTED_FLOOR = 0.8;
const COMPLETED_FLOOR = 0.9;
/** The participant page's default (params.ts): every backend, the timing decides. */
const ALL_BACKENDS = 'webgpu,webgl,wasm,cpu';

interface TabRecord {
  readonly uploads: { roundId: number; task: string }[];
  readonly errors: { roundId: number | null; code: string; message: string }[];
  readonly selection: { backend: string; timings: { backend: string; msPerStep: number }[]; skipped: unknown[] };
}

function readRecord(tab: Tab): Promise<TabRecord> {
  return tab.page.evaluate(() => {
    const hook = window.__petfl as unknown as {
      uploads: { roundId: number; task: string }[];
      errors: { roundId: number | null; code: string; message: string }[];
      backendSelection: TabRecord['selection'];
    };
    return {
      uploads: hook.uploads.map((u) => ({ roundId: u.roundId, task: u.task })),
      errors: hook.errors.map((e) => ({ roundId: e.roundId, code: e.code, message: e.message })),
      selection: JSON.parse(JSON.stringify(hook.backendSelection)),
    };
  });
}

// The coordinator of the `coordinator` fixture, with the demo's round settings.
test.use({ phases: DEMO_ROUND });

test("with npm start's rounds, every tab's training keeps up", async ({ browser, coordinator, webOrigin }) => {
  const tabs: Tab[] = [];
  let starting: Promise<NodeParticipants> | undefined;
  let driver: PacedDriver | undefined;
  try {
    let opened = false;
    const participants: PacedParticipant[] = [];
    driver = new PacedDriver(coordinator, () => (opened ? participants : []));
    // The Node participants start while the tabs open (one at a time: each times its backends).
    starting = startNodeParticipants(coordinator.url, {
      first: DEMO_TABS,
      count: DEMO_NODE_PARTICIPANTS,
      shards: DEMO_SHARDS,
    });
    starting.catch(() => {}); // awaited below; a failure meanwhile is not an unhandled rejection
    for (let shard = 0; shard < DEMO_TABS; shard++) {
      const url = participantUrl(webOrigin, coordinator.url, {
        shard,
        shards: DEMO_SHARDS,
        backends: ALL_BACKENDS,
        epochs: DEFAULT_EPOCHS,
      });
      tabs.push(await Tab.open(browser, url, `tab-${shard}`));
    }
    const joined = await starting;
    for (const tab of tabs) participants.push({ name: tab.name, snapshot: () => tab.snapshot() });
    for (let k = 0; k < DEMO_NODE_PARTICIPANTS; k++) {
      participants.push({ name: `node-${k}`, snapshot: async () => joined.snapshots.get(k) ?? null });
    }
    opened = true;
    const paced = driver;

    /** A failed round whose draw left it no chance: nobody drew sum, or too few drew update. */
    const doomed = (round: RoundSummary): boolean => {
      if (round.outcome !== 'failed') return false;
      const tasks = participants.map((p) => paced.tasks.get(p.name)?.get(round.roundId));
      if (tasks.some((t) => t === undefined)) return false;
      const sums = tasks.filter((t) => t === 'sum').length;
      return sums === 0 || tasks.length - sums < DEMO_ROUND.update.min;
    };
    let counted: RoundSummary[] = [];
    let skipped: RoundSummary[] = [];
    await expect
      .poll(
        async () => {
          const ended = (await coordinator.history()).filter(
            (r) => r.outcome === 'completed' || r.outcome === 'failed',
          );
          skipped = ended.filter(doomed);
          counted = ended.filter((r) => !doomed(r)).slice(0, ROUNDS);
          return counted.length;
        },
        { timeout: ROUNDS_BACKSTOP_MS, intervals: [500], message: `${ROUNDS} rounds the task draw let complete` },
      )
      .toBeGreaterThanOrEqual(ROUNDS);

    const completed = counted.filter((r) => r.outcome === 'completed');
    const lines: string[] = [];
    const ratios: { tab: string; accepted: number; updates: number }[] = [];
    for (const tab of tabs) {
      const record = await readRecord(tab);
      const tasks = paced.tasks.get(tab.name);
      const updates = completed.filter((r) => tasks?.get(r.roundId) === 'update');
      const accepted = updates.filter(
        (r) =>
          record.uploads.some((u) => u.roundId === r.roundId && u.task === 'update') &&
          !record.errors.some((e) => e.roundId === r.roundId),
      );
      ratios.push({ tab: tab.name, accepted: accepted.length, updates: updates.length });
      const timings = record.selection.timings.map((t) => `${t.backend} ${t.msPerStep.toFixed(1)} ms`).join(', ');
      const trainTime = await tab.page.getByTestId('train-time').textContent();
      lines.push(
        `${tab.name}: backend ${record.selection.backend} (${timings}); update accepted in ${accepted.length} of ` +
          `${updates.length} completed update rounds; last epoch ${trainTime}; ` +
          `missed ${updates.filter((r) => !accepted.includes(r)).map((r) => r.roundId)}; errors ${JSON.stringify(record.errors)}`,
      );
    }
    const summary =
      `${completed.length} of ${counted.length} rounds completed` +
      ` (not counted, doomed by the draw: ${skipped.map((r) => r.roundId).join(', ') || 'none'});\n` +
      `${lines.join('\n')}\nphases: ${paced.ended.join('; ')}\nforced: ${paced.forced.join('; ') || 'none'}`;
    test.info().annotations.push({ type: 'contribution', description: summary });
    // Printed on success too: the observed ratios (a log line, not a warning).
    console.warn(`contribution: ${summary}`);

    expect(paced.errors, 'paced driver errors').toEqual([]);
    for (const tab of tabs) expect(await tab.backend(), `${tab.name}: backend`).toBe('wasm');
    expect(completed.length / counted.length, `completed rounds\n${summary}`).toBeGreaterThanOrEqual(COMPLETED_FLOOR);
    for (const { tab, accepted, updates } of ratios) {
      expect(updates, `${tab}: completed rounds with an update task`).toBeGreaterThan(0);
      expect(accepted / updates, `${tab}: share of its updates accepted\n${summary}`).toBeGreaterThanOrEqual(
        ACCEPTED_FLOOR,
      );
    }
  } finally {
    await driver?.stop();
    await Promise.all(tabs.map((t) => t.close().catch(() => {})));
    await starting?.then(
      (nodes) => nodes.stop(),
      () => {}, // it failed the test already, or never started
    );
  }
});
