/**
 * A participant page as an app author writes it from `npm create vite` (vanilla-ts), with no
 * Vite configuration: the coordinator's URL from the query string (`?coordinator=…&seed=…`),
 * a small TensorFlow.js dense model trained on this page's own (synthetic) data, the
 * participant in a Worker (`@petfl/sdk/worker`), its local model set from the model's weights
 * (`@petfl/tfjs`), and every global model written back into the model.
 *
 * What the test reads: `#status` ('starting', 'joined', 'global model', or 'error: …'),
 * `#round`, and `window.petflFixture` (plain data).
 */
import { spawnAsyncParticipant } from '@petfl/sdk/worker';
import { modelToVector, selectBackend, vectorToModel } from '@petfl/tfjs';
import * as tf from '@tensorflow/tfjs';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

/** 4 inputs → 3 (relu) → 2 (softmax): 4·3 + 3 + 3·2 + 2 = 23 weights, the coordinator's `model.length`. */
const LAYERS = [4, 3, 2] as const;
const EXAMPLES = 64;

interface ReceivedModel {
  /** The participant's round when the model arrived (the model is that round's or an earlier one's). */
  readonly seenInRound: number | null;
  readonly weights: number[];
}

interface FixtureState {
  /** `performance.now()` (ms since navigation start) when `spawnAsyncParticipant` was called. */
  spawnMs: number | null;
  /** `performance.now()` when `spawnAsyncParticipant` resolved: the participant has joined. */
  joinedMs: number | null;
  backend: string | null;
  weightCount: number | null;
  participantPk: string | null;
  roundId: number | null;
  phase: string | null;
  lastError: string | null;
  received: ReceivedModel[];
}

declare global {
  interface Window {
    petflFixture: FixtureState;
  }
}

const state: FixtureState = {
  spawnMs: null,
  joinedMs: null,
  backend: null,
  weightCount: null,
  participantPk: null,
  roundId: null,
  phase: null,
  lastError: null,
  received: [],
};
window.petflFixture = state;

function show(id: string, text: string): void {
  const node = document.getElementById(id);
  if (node !== null) node.textContent = text;
}

/** Every page starts from the same weights (seeded initializers). */
function buildModel(): tf.LayersModel {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({
        units: LAYERS[1],
        activation: 'relu',
        inputShape: [LAYERS[0]],
        kernelInitializer: tf.initializers.glorotUniform({ seed: 7 }),
      }),
      tf.layers.dense({
        units: LAYERS[2],
        activation: 'softmax',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 8 }),
      }),
    ],
  });
  model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
  return model;
}

/** This page's data: class 1 when the first input is positive; the seed makes each page's draw its own. */
function localData(seed: number): { xs: tf.Tensor2D; ys: tf.Tensor2D } {
  return tf.tidy(() => {
    const xs = tf.randomNormal([EXAMPLES, LAYERS[0]], 0, 1, 'float32', seed) as tf.Tensor2D;
    const labels = xs.slice([0, 0], [EXAMPLES, 1]).greater(0).reshape([EXAMPLES]).toInt();
    return { xs, ys: tf.oneHot(labels, LAYERS[2]).toFloat() as tf.Tensor2D };
  });
}

async function train(model: tf.LayersModel, data: { xs: tf.Tensor2D; ys: tf.Tensor2D }): Promise<Float32Array> {
  await model.fit(data.xs, data.ys, { epochs: 2, batchSize: 16, verbose: 0 });
  return modelToVector(model);
}

async function main(): Promise<void> {
  const query = new URLSearchParams(location.search);
  const coordinator = query.get('coordinator');
  if (coordinator === null) throw new Error('no ?coordinator= in the URL');
  const seed = Number(query.get('seed') ?? '1');

  const selection = await selectBackend(['wasm', 'cpu'], {
    wasmPaths: {
      'tfjs-backend-wasm.wasm': wasmPlain,
      'tfjs-backend-wasm-simd.wasm': wasmSimd,
      'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
    },
  });
  state.backend = selection.backend;
  show('backend', selection.backend);

  const model = buildModel();
  const data = localData(seed);
  let local = await train(model, data);
  state.weightCount = local.length;

  state.spawnMs = performance.now();
  const { participant, globalModelNotifier } = await spawnAsyncParticipant(coordinator, {
    pollMs: 100,
    maxPollMs: 1000,
    onError: (error) => console.warn(`petfl: ${error.name}: ${error.message}`),
  });
  state.joinedMs = performance.now();
  addEventListener('pagehide', () => void participant.stop().catch(() => undefined));

  // The local model for the next update task: set now, and again in each new round (a model
  // set is used once; the latest one set wins).
  participant.setLocalModel(local);
  const onSnapshot = (): void => {
    const s = participant.getSnapshot();
    if (s.roundId !== state.roundId && s.roundId !== null) participant.setLocalModel(local);
    state.participantPk = s.participantPk;
    state.roundId = s.roundId;
    state.phase = s.phase;
    state.lastError = s.lastError === null ? null : `${s.lastError.code}: ${s.lastError.message}`;
    show('round', s.roundId === null ? '' : String(s.roundId));
  };
  participant.subscribe(onSnapshot);
  onSnapshot();
  show('status', 'joined');

  for (;;) {
    await globalModelNotifier.wait();
    const global = await participant.getGlobalModel();
    if (global === null) continue;
    vectorToModel(model, global);
    state.received.push({ seenInRound: participant.getSnapshot().roundId, weights: Array.from(global) });
    show('status', 'global model');
    local = await train(model, data);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  show('status', `error: ${error instanceof Error ? error.message : String(error)}`);
});
