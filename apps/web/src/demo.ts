/**
 * The demo's fixed choices, shared by the pages, the Node participants and
 * `npm start` (which sets the coordinator's `model.length` from them): the
 * dense model's layer sizes and how the MNIST training pool is cut into
 * shards. DOM-free and Node-free on purpose.
 */

/** 784 pixels → 32 hidden units (relu) → 10 classes (softmax). Dense only: the wasm backend cannot train conv nets. */
export const LAYERS: readonly number[] = [784, 32, 10];

/** Weights of a dense stack: a kernel [in, out] and a bias [out] per layer. */
export function denseWeightCount(layers: readonly number[]): number {
  let count = 0;
  for (let i = 1; i < layers.length; i++) {
    const inputs = layers[i - 1] as number;
    const units = layers[i] as number;
    count += inputs * units + units;
  }
  return count;
}

/**
 * The participant page's models (`model=`, params.ts), dense stacks all (the wasm backend cannot
 * train conv nets): `demo`, LAYERS above (the default), and `wide`, 784→1260→10 (1 001 710
 * weights), for the browser benchmark at a million weights (`npm run bench:e2e`). Here, DOM-
 * and Node-free, so the e2e support reads the same list.
 */
export const PAGE_MODELS = {
  demo: LAYERS,
  wide: [784, 1260, 10],
} as const satisfies Record<string, readonly number[]>;

/** The coordinator's `model.length`: 784·32 + 32 + 32·10 + 10 = 25450. */
export const MODEL_LENGTH = denseWeightCount(LAYERS);

/** Browser tabs the demo opens (shards 0..TABS-1) and headless Node participants (the next shards). */
export const DEMO_TABS = 3;
export const DEMO_NODE_PARTICIPANTS = 5;
/** All shards of the training pool: one per tab and one per Node participant, disjoint. */
export const DEMO_SHARDS = DEMO_TABS + DEMO_NODE_PARTICIPANTS;

/** Local epochs per update task (`epochs=` on the participant page). */
export const DEFAULT_EPOCHS = 1;
export const BATCH_SIZE = 32;
/** Adam's learning rate: a few local epochs move the model well within one round. */
export const LEARNING_RATE = 0.005;
/** The seed of the shared initial weights: every participant starts round 1 from the same model. */
export const INIT_SEED = 7;

/**
 * In a training run (`npm start -- --strategy …`, docs/learning.md): the share of each shard a
 * participant holds out, never trains on, and evaluates the global model on before training
 * (federated evaluation; mnist.ts `holdOut`). Without a run nothing is held out.
 */
export const EVALUATION_SHARE = 0.1;

/**
 * The round timing and task selection `npm start` gives its coordinator (scripts/start.ts):
 * sum 30 % of the participants, at least 1, open 1–5 s; update everyone else, at least 3,
 * open 3–10 s (the time the tabs have to train); sum2 at least 1, 1–5 s. A phase ends at its
 * minimum time once its minimum count is in, else when the count is reached, and fails at its
 * maximum time. e2e/tests/contribution.spec.ts runs the tabs against these.
 */
export const DEMO_ROUND = {
  sumProbability: 0.3,
  sum: { min: 1, max: 100, minMs: 1_000, maxMs: 5_000 },
  update: { min: 3, max: 1000, minMs: 3_000, maxMs: 10_000 },
  sum2: { min: 1, max: 100, minMs: 1_000, maxMs: 5_000 },
} as const;
