/**
 * The participant page's training Worker (remote-trainer.ts starts it; the messages are
 * training-messages.ts). TensorFlow.js runs here, not on the page: a training batch of the
 * million-weight `model=wide` took the page's main thread for 300–600 ms at a time on 2 shared
 * cores (bench/results/e2e.json, long tasks), and a page whose main thread trains cannot answer
 * input or render meanwhile (docs/architecture.md §5.4). The page keeps the UI and the SDK's page
 * side; global models are scored in a Worker of their own (remote-scorer.ts).
 *
 * Here: the backend is chosen by timing a training step of the model (`selectBackend`, with the
 * page's remembered choices handed in, since a Worker has no localStorage), the model and the
 * shard's tensors are built, and the page's `ContinuousTrainer` (trainer.ts) trains exactly as it
 * did on the page; each epoch's weights go to the page the moment the epoch ends.
 */

import { type ChoiceStore, layersModelTrial, selectBackend } from '@petfl/tfjs';
import * as tf from '@tensorflow/tfjs';
import { CLASSES, PIXELS } from '../mnist.ts';
import { buildModel } from '../model.ts';
import { ContinuousTrainer, type TrainedEpoch } from './trainer.ts';
import type { FromTrainer, ToTrainer, TrainingMemory } from './training-messages.ts';

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<ToTrainer>) => void) | null;
  postMessage(message: FromTrainer, transfer?: Transferable[]): void;
};

const post = (message: FromTrainer, transfer: Transferable[] = []): void => scope.postMessage(message, transfer);

function memory(): TrainingMemory {
  const { numTensors, numBytes } = tf.memory();
  return { numTensors, numBytes };
}

let trainer: ContinuousTrainer | undefined;
/** The page's number of each global model it sent (the array the page moved here is the key). */
const baseIds = new WeakMap<object, number>();
/** The bases the page has a copy of (sent with the first epoch trained from each). */
const basesSent = new WeakSet<object>();
/** Messages that came before `init` finished: handled in order once the trainer exists. */
const early: ToTrainer[] = [];

function sendEpoch(epoch: TrainedEpoch, ms: number): void {
  const baseId = baseIds.get(epoch.base.model) ?? 0;
  const base = basesSent.has(epoch.base.model) ? undefined : epoch.base.model.slice();
  basesSent.add(epoch.base.model);
  post(
    {
      kind: 'epoch',
      weights: epoch.weights,
      baseId,
      baseRound: epoch.base.roundId,
      ...(base === undefined ? {} : { base }),
      ms,
      memory: memory(),
    },
    base === undefined ? [epoch.weights.buffer] : [epoch.weights.buffer, base.buffer],
  );
}

function handle(message: ToTrainer, t: ContinuousTrainer): void {
  switch (message.kind) {
    case 'start':
      t.start();
      break;
    case 'global': {
      baseIds.set(message.model, message.id);
      t.newGlobalModel(message.model, message.roundId);
      const copy = message.model.slice();
      post({ kind: 'global-copy', id: message.id, model: copy }, [copy.buffer]);
      break;
    }
    case 'want': {
      // Every epoch is handed over as it ends, so none is ready here: this starts one more
      // unless one is running (ContinuousTrainer.take), as an update task did on the page.
      const epoch = t.take();
      if (epoch !== null) sendEpoch(epoch, 0);
      break;
    }
    case 'stop':
      t.stop();
      break;
    case 'init':
      break; // only once (below)
  }
}

async function init(message: Extract<ToTrainer, { kind: 'init' }>): Promise<void> {
  const remembered = new Map(Object.entries(message.remembered));
  const store: ChoiceStore = {
    getItem: (key) => remembered.get(key) ?? null,
    setItem: (key, value) => {
      remembered.set(key, value);
      post({ kind: 'remember', key, value });
    },
  };
  const selection = await selectBackend(message.backends, {
    wasmPaths: message.wasmPaths,
    trial: layersModelTrial(() => buildModel(message.layers), { batchSize: message.batchSize }),
    store,
  });
  const model = buildModel(message.layers);
  const data = {
    xs: tf.tensor2d(message.xs, [message.count, PIXELS]),
    ys: tf.tensor2d(message.ys, [message.count, CLASSES]),
  };
  const t = new ContinuousTrainer({
    model,
    data,
    epochs: message.epochs,
    batchSize: message.batchSize,
    onProgress: (progress) => post({ kind: 'progress', progress }),
    onEpoch: ({ ms }) => {
      // The epoch just ended is the ready one (the trainer sets it before this call): hand it over.
      const epoch = t.take();
      if (epoch !== null) sendEpoch(epoch, ms);
    },
  });
  trainer = t;
  post({ kind: 'ready', selection, weights: model.countParams(), memory: memory() });
  for (const waiting of early.splice(0)) handle(waiting, t);
}

scope.onmessage = (event) => {
  const message = event.data;
  if (message.kind === 'init') {
    init(message).catch((error: unknown) => {
      const e = error instanceof Error ? error : new Error(String(error));
      post({ kind: 'failed', name: e.name, message: e.message });
    });
    return;
  }
  if (trainer === undefined) early.push(message);
  else handle(message, trainer);
};
