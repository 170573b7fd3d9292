/**
 * A real coordinator for the Vite fixture's pages: `listen()` on a free port of 127.0.0.1,
 * CORS open to any origin (the pages come from another port), the mask configuration the demo
 * uses, phases on the real clock sized for a handful of pages (e2e/support/coordinator.ts's
 * DEFAULT_PHASES), and every global model kept by round, so a test can compare what a page got
 * with what the coordinator published.
 */

import { MemoryModelStore, parseSettings, type RoundSummary } from '@petfl/coordinator';
import { listen, type RunningCoordinator } from '@petfl/coordinator/node';

export interface PageCoordinator {
  readonly url: string;
  readonly running: RunningCoordinator;
  /** Finished rounds, oldest first. */
  history(): Promise<readonly RoundSummary[]>;
  /** The global model of round `roundId` as the coordinator stored it (float64). */
  model(roundId: number): Promise<Float32Array | Float64Array | undefined>;
  close(): Promise<void>;
}

/**
 * The sum phase stays open 3 s so that a page that notices the round late still gets in; a
 * round that the draw dooms (no sum participant, fewer than 3 updates) fails and the next starts.
 */
function settingsToml(modelLength: number): string {
  return `
[api]
port = 0
admin_token = "consumers-vite"
cors_origins = ["*"]
[safety]
allow_unsafe_small_rounds = true
scalar_min = 1
scalar_max = 10000
[pet.sum]
probability = 0.3
count = { min = 1, max = 100 }
time = { min_ms = 3000, max_ms = 6000 }
[pet.update]
probability = 1
count = { min = 3, max = 100 }
time = { min_ms = 3000, max_ms = 20000 }
[pet.sum2]
count = { min = 1, max = 100 }
time = { min_ms = 0, max_ms = 20000 }
[mask]
group = "power2"
data = "f32"
bound = "b4"
model = "m3"
[model]
length = ${modelLength}
`;
}

export async function startPageCoordinator(modelLength: number): Promise<PageCoordinator> {
  const models = new MemoryModelStore();
  const running = await listen(parseSettings(settingsToml(modelLength), {}), { models });
  return {
    url: running.url,
    running,
    history: async () => [...(await running.coordinator.history(1000))].sort((a, b) => a.roundId - b.roundId),
    model: async (roundId) => (await models.get(roundId))?.model,
    close: () => running.close(),
  };
}
