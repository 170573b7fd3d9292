/**
 * A WebGPU tab (SwiftShader's software adapter, headless) beside wasm tabs: it reports
 * the webgpu backend, and once it is an update participant its local model is in the
 * global model exactly like the others'.
 */

import { expect, test } from '../support/fixtures.ts';
import { checkRound } from '../support/rounds.ts';

const TABS = 6;

// Software WebGPU trains far slower than wasm here: an update phase long enough for its update.
test.use({ phases: { update: { min: 3, max: 100, minMs: 20_000, maxMs: 40_000 } } });

test('a backends=webgpu tab trains on WebGPU and its update is aggregated', async ({ coordinator, tabs }) => {
  const gpu = await tabs.open({ shard: 0, shards: TABS, backends: 'webgpu' });
  await expect(gpu.page.getByTestId('backend')).toHaveText('webgpu');
  expect(await gpu.backend()).toBe('webgpu');
  const others = await Promise.all([1, 2, 3, 4, 5].map((shard) => tabs.open({ shard, shards: TABS })));
  const all = [gpu, ...others];

  // Until a completed round took the WebGPU tab's update.
  let included: number | undefined;
  const checks = new Map<number, string>();
  const diagnose = async () =>
    `WebGPU tab: checks ${[...checks.values()].join('\n')}; submitted to rounds ${[...gpu.recorded.keys()]}; ` +
    `message sizes ${gpu.messages.map((m) => m.length)}; problems ${gpu.problems.join('\n')}; ` +
    `snapshot ${JSON.stringify(await gpu.snapshot())}; tf.memory ${JSON.stringify(await gpu.memory().catch(String))}`;
  await expect
    .poll(
      async () => {
        const mine = new Set((await gpu.collect()).map((s) => s.roundId));
        for (const round of await coordinator.history()) {
          if (round.outcome !== 'completed' || !mine.has(round.roundId)) continue;
          const result = await checkRound(coordinator, round, all);
          checks.set(round.roundId, JSON.stringify(result));
          if (result.acceptedTabs?.includes(gpu.name)) included = round.roundId;
        }
        return included;
      },
      {
        timeout: 90_000,
        intervals: [500],
        message: "a completed round with the WebGPU tab's update",
      },
    )
    .toBeDefined()
    .catch(async (error: unknown) => {
      throw new Error(`${String(error)}\n${await diagnose()}`);
    });
  for (const [roundId, result] of checks)
    expect(JSON.parse(result).check?.ok, `round ${roundId}: ${result}`).toBe(true);
  await expect(gpu.page.getByTestId('backend')).toHaveText('webgpu');
  // A WebGPU device lost while training shows as a failed trainRound (callback-failed).
  expect((await gpu.snapshot())?.lastError?.code).not.toBe('callback-failed');
  expect(gpu.problems).toEqual([]);
  test.info().annotations.push({ type: 'webgpu update in round', description: String(included) });
});
