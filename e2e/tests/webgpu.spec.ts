/**
 * A WebGPU tab (SwiftShader's software adapter, headless) beside wasm tabs: it reports
 * the webgpu backend, and once it is an update participant its local model is in the
 * global model exactly like the others'.
 */

import { expect, test } from '../support/fixtures.ts';
import { checkRound, ROUNDS_BACKSTOP_MS } from '../support/rounds.ts';

const TABS = 6;

// Software WebGPU trains slower than wasm here (2.6–10.2 s a round measured, against about
// 1 s): the phase driver keeps each update phase open until it has sent, however long it takes.
//
// The WebGPU tab is a sum participant (no update) in any round with probability 0.3, so it
// may take several rounds to get an update task (4 sum rounds in a row happened in CI). The
// test waits for rounds, not for time: it gives up after MAX_ROUNDS completed rounds without
// the WebGPU tab's update (0.3^12 ≈ 5·10⁻⁷); ROUNDS_BACKSTOP_MS only bounds a hang. A
// passing run usually needs one or two.
const MAX_ROUNDS = 12;

test('a backends=webgpu tab trains on WebGPU and its update is aggregated', async ({ coordinator, tabs }) => {
  const gpu = await tabs.open({ shard: 0, shards: TABS, backends: 'webgpu' });
  await expect(gpu.page.getByTestId('backend')).toHaveText('webgpu');
  expect(await gpu.backend()).toBe('webgpu');
  const others = await Promise.all([1, 2, 3, 4, 5].map((shard) => tabs.open({ shard, shards: TABS })));
  const all = [gpu, ...others];

  // Until a completed round took the WebGPU tab's update.
  let included: number | undefined;
  const checks = new Map<number, string>();
  const started = Date.now();
  /** The WebGPU tab's task in each round it sent in, its last training time and the rounds' outcomes. */
  const timeline = async () => {
    const tasks = new Map<number, string>();
    for (const u of await gpu.uploads()) tasks.set(u.roundId, u.task);
    const history = (await coordinator.history()).map(
      (r) => `${r.roundId} ${r.outcome} ${JSON.stringify(r.participants)}`,
    );
    const trainTime = await gpu.page.getByTestId('train-time').textContent();
    return `tasks ${[...tasks].map(([r, t]) => `${r} ${t}`).join(', ')}; training ${trainTime}; rounds ${history.join(', ')}`;
  };
  const diagnose = async () =>
    `WebGPU tab: ${await timeline()}; checks ${[...checks.values()].join('\n')}; submitted to rounds ${[...gpu.recorded.keys()]}; ` +
    `message sizes ${gpu.messages.map((m) => m.length)}; problems ${gpu.problems.join('\n')}; ` +
    `snapshot ${JSON.stringify(await gpu.snapshot())}; tf.memory ${JSON.stringify(await gpu.memory().catch(String))}`;
  await expect
    .poll(
      async () => {
        const mine = new Set((await gpu.collect()).map((s) => s.roundId));
        const history = await coordinator.history();
        for (const round of history) {
          if (round.outcome !== 'completed' || !mine.has(round.roundId) || checks.has(round.roundId)) continue;
          const result = await checkRound(coordinator, round, all);
          checks.set(round.roundId, JSON.stringify(result));
          if (result.acceptedTabs?.includes(gpu.name)) included = round.roundId;
        }
        // Done when it is in, or after MAX_ROUNDS completed rounds without it (failed below).
        return included !== undefined || history.filter((r) => r.outcome === 'completed').length >= MAX_ROUNDS;
      },
      {
        timeout: ROUNDS_BACKSTOP_MS,
        intervals: [500],
        message: "a completed round with the WebGPU tab's update",
      },
    )
    .toBe(true)
    .catch(async (error: unknown) => {
      throw new Error(`${String(error)}\n${await diagnose()}`);
    });
  if (included === undefined) {
    throw new Error(`no completed round with the WebGPU tab's update in ${MAX_ROUNDS}\n${await diagnose()}`);
  }
  for (const [roundId, result] of checks)
    expect(JSON.parse(result).check?.ok, `round ${roundId}: ${result}`).toBe(true);
  await expect(gpu.page.getByTestId('backend')).toHaveText('webgpu');
  // A WebGPU device lost while training shows as a failed trainRound (callback-failed).
  expect((await gpu.snapshot())?.lastError?.code).not.toBe('callback-failed');
  expect(gpu.problems).toEqual([]);
  test.info().annotations.push({ type: 'webgpu update in round', description: String(included) });
  // Printed on success too: how many rounds it took, and why (a log line, not a warning).
  console.warn(`webgpu: update in round ${included} after ${Date.now() - started} ms; ${await timeline()}`);
});
