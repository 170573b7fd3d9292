/**
 * A real coordinator for the browser tests: `listen()` on a free port of
 * 127.0.0.1 with CORS open to any origin (the pages are served from another
 * port), an in-memory store and model store.
 */

import { MemoryModelStore, parseSettings } from '@petfl/coordinator';
import { listen, type RunningCoordinator } from '@petfl/coordinator/node';
import { decodeGlobalModel } from '@petfl/core';

export interface CoordinatorOptions {
  readonly modelLength: number;
  readonly sumProbability: number;
  /** Update messages a round needs (≥ 3, the coordinator's floor) and takes at most. */
  readonly update: { readonly min: number; readonly max: number; readonly minMs: number; readonly maxMs: number };
  /** How long the sum phase waits for a first sum message before the round fails (default 3 s). */
  readonly sumMaxMs?: number;
  /** How long the sum2 phase waits for a sum participant's Sum2 (default 15 s). */
  readonly sum2MaxMs?: number;
}

export interface TestCoordinator {
  readonly url: string;
  readonly running: RunningCoordinator;
  /** The round in progress, its phase ('sum', 'update', …) and its accepted sum messages. */
  phase(): { readonly roundId: number | null; readonly phase: string; readonly sums: number };
  /** The round id of the latest global model, or null. */
  latestModelRound(): number | null;
  /** The latest global model's weights (over HTTP, as participants see it). */
  latestModel(): Promise<{ roundId: number; weights: Float32Array | Float64Array } | undefined>;
  close(): Promise<void>;
}

export async function startCoordinator(options: CoordinatorOptions): Promise<TestCoordinator> {
  const { modelLength, sumProbability, update } = options;
  const sumMaxMs = options.sumMaxMs ?? 3000;
  const sum2MaxMs = options.sum2MaxMs ?? 15_000;
  const settings = parseSettings(
    `
[api]
port = 0
admin_token = "browser-test"
cors_origins = ["*"]
max_body_bytes = 16777216
[safety]
allow_unsafe_small_rounds = true
scalar_min = 0
[pet.sum]
probability = ${sumProbability}
count = { min = 1, max = 100 }
time = { min_ms = 0, max_ms = ${sumMaxMs} }
[pet.update]
probability = 1
count = { min = ${update.min}, max = ${update.max} }
time = { min_ms = ${update.minMs}, max_ms = ${update.maxMs} }
[pet.sum2]
count = { min = 1, max = 100 }
time = { min_ms = 0, max_ms = ${sum2MaxMs} }
[model]
length = ${modelLength}
`,
    {},
  );
  const running = await listen(settings, { models: new MemoryModelStore() });
  return {
    url: running.url,
    running,
    phase: () => {
      const { roundId, phase, counts } = running.coordinator.status();
      return { roundId, phase, sums: counts.sum };
    },
    latestModelRound: () => running.coordinator.status().latestModelRoundId,
    async latestModel() {
      const response = await fetch(`${running.url}/model`);
      if (response.status !== 200) return undefined;
      const model = decodeGlobalModel(new Uint8Array(await response.arrayBuffer()));
      return { roundId: model.roundId, weights: model.model };
    },
    close: () => running.close(),
  };
}
