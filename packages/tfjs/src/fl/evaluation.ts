/**
 * Federated evaluation, the participant's side: the global model the participant starts a round
 * from is evaluated on its own validation data, before local training, with the model's compiled
 * loss and metrics (`model.evaluate`). The result is what `encodeContribution` puts in the masked
 * vector (docs/learning.md §2): the example count and one mean per metric of the layout.
 *
 * Names: `loss` is the compiled loss; TensorFlow.js names the `accuracy` metric `acc`, which is
 * reported as `accuracy`; any other metric by the name `model.metricsNames` gives it.
 */

import type { Evaluation } from '@petfl/sdk';
import type * as tf from '@tensorflow/tfjs';
import type { LocalData } from './local-data.ts';
import { TrainingRunError } from './training-run.ts';

const ALIASES: Readonly<Record<string, string>> = { acc: 'accuracy' };

/** Evaluates `model` as it is on `data` and returns the layout's `metrics`; throws naming a metric it cannot give. */
export async function evaluateModel(
  model: tf.LayersModel,
  data: LocalData,
  metrics: readonly string[],
  batchSize: number | undefined,
): Promise<Evaluation> {
  const examples = data.xs.shape[0] ?? 0;
  const names = model.metricsNames.map((name) => ALIASES[name] ?? name);
  const missing = metrics.filter((name) => !names.includes(name));
  if (missing.length > 0) {
    throw new TrainingRunError(
      `run.layout.metrics: the model does not compute ${missing.map((m) => `"${m}"`).join(', ')}; it computes ${names.map((m) => `"${m}"`).join(', ')} (model.compile({ metrics }))`,
    );
  }
  if (examples === 0) return { examples: 0, metrics: Object.fromEntries(metrics.map((name) => [name, 0])) };
  const result = model.evaluate(data.xs, data.ys, batchSize === undefined ? {} : { batchSize });
  const scalars = Array.isArray(result) ? result : [result];
  try {
    const values = await Promise.all(scalars.map(async (s) => (await s.data())[0] as number));
    const byName = new Map(names.map((name, i) => [name, values[i] as number]));
    return { examples, metrics: Object.fromEntries(metrics.map((name) => [name, byName.get(name) as number])) };
  } finally {
    for (const s of scalars) s.dispose();
  }
}
