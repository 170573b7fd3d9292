/**
 * A real coordinator in process for SDK tests (as simulation.test.ts does):
 * every request goes through `app.request`, so no port is opened. Phase
 * counts and times are set per test; `fetch` is the participants' window on
 * it and `completedRounds()` reads the round history.
 */

import {
  type CoordinatorApp,
  systemClock as coordinatorClock,
  createCoordinatorApp,
  MemoryModelStore,
  parseSettings,
  type Settings,
} from '@petfl/coordinator';
import { initCrypto } from '@petfl/core';
import type { FetchLike, ResponseLike } from '../src/client/http-client.ts';

export interface PhaseOptions {
  readonly min: number;
  readonly max: number;
  readonly minMs?: number;
  readonly maxMs?: number;
}

export interface TestCoordinatorOptions {
  readonly sum?: PhaseOptions & { readonly probability: number };
  readonly update?: PhaseOptions & { readonly probability?: number };
  readonly sum2?: PhaseOptions;
  readonly modelLength?: number;
  readonly data?: 'f32' | 'f64';
  /** `safety.scalar_min` (default 0), and then `scalar_max` too: differential privacy needs equal scalars. */
  readonly scalarMin?: number;
  /** TOML tables appended to the settings (e.g. a `[run]` with `[run.privacy]`). */
  readonly extraToml?: string;
}

export interface TestCoordinator {
  readonly url: string;
  readonly fetch: FetchLike;
  readonly created: CoordinatorApp;
  readonly models: MemoryModelStore;
  readonly settings: Settings;
  completedRounds(): Promise<number[]>;
  close(): Promise<void>;
}

const phase = (p: PhaseOptions): string =>
  `count = { min = ${p.min}, max = ${p.max} }\ntime = { min_ms = ${p.minMs ?? 0}, max_ms = ${p.maxMs ?? 60000} }`;

/** The coordinator settings of `options` (port 0: `listen` picks one). */
export function testSettings(options: TestCoordinatorOptions = {}): Settings {
  const sum = options.sum ?? { probability: 1e-9, min: 1, max: 1 };
  const update = options.update ?? { min: 3, max: 3 };
  const sum2 = options.sum2 ?? { min: 1, max: sum.max };
  return parseSettings(
    `
[api]
port = 0
admin_token = "test-admin"
[safety]
allow_unsafe_small_rounds = true
scalar_min = ${options.scalarMin ?? 0}
${options.scalarMin === undefined ? '' : `scalar_max = ${options.scalarMin}`}
[pet.sum]
probability = ${sum.probability}
${phase(sum)}
[pet.update]
probability = ${update.probability ?? 1}
${phase(update)}
[pet.sum2]
${phase(sum2)}
[mask]
group = "power2"
data = "${options.data ?? 'f32'}"
bound = "b2"
model = "m3"
[model]
length = ${options.modelLength ?? 8}
${options.extraToml ?? ''}
`,
    {},
  );
}

export async function startCoordinator(options: TestCoordinatorOptions = {}): Promise<TestCoordinator> {
  const settings = testSettings(options);
  const models = new MemoryModelStore();
  const created = await createCoordinatorApp(settings, { crypto: await initCrypto(), models, clock: coordinatorClock });
  const fetch: FetchLike = async (url, init) =>
    (await created.app.request(url, init as RequestInit)) as unknown as ResponseLike;
  return {
    url: 'http://petfl.test',
    fetch,
    created,
    models,
    settings,
    async completedRounds() {
      const history = await created.coordinator.history(1000);
      return history.filter((r) => r.outcome === 'completed').map((r) => r.roundId);
    },
    close: () => created.close(),
  };
}

/** Polls `condition` every 20 ms until it holds; fails after `timeoutMs` (a test waits on state, not on time). */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`waitFor: condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
