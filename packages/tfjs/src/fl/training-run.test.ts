/**
 * TfjsParticipant in a training run, on the cpu backend: the masked vector it builds (update,
 * control-variate delta, evaluation), FedProx and SCAFFOLD against plain training and against an
 * SGD loop written out here, and the errors for a run that does not fit the model or the round.
 */

import { maskedLength, type VectorLayout } from '@petfl/sdk';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { pseudoRandom, syntheticData, tinyModel } from '../../test-support/tfjs.ts';
import { TfjsParticipant, type TrainingProgress } from '../tfjs-participant.ts';
import { modelToVector, vectorToModel, weightCount } from '../weights.ts';
import { TrainingRunError } from './training-run.ts';

const P = 49; // tinyModel's weights
const LR = 0.05; // tinyModel's SGD learning rate
let data: { xs: tf.Tensor2D; ys: tf.Tensor2D };
beforeAll(async () => {
  await tf.setBackend('cpu');
  data = syntheticData(40);
});
afterAll(() => tf.dispose([data.xs, data.ys]));

function layoutOf(overrides: Partial<VectorLayout> = {}): VectorLayout {
  return { modelLength: P, send: 'update', controlVariates: false, metrics: [], maxExamples: 1000, ...overrides };
}

/** The global model every test starts from: not the models' initial weights. */
const x = Float64Array.from(pseudoRandom(P, 11), (v) => v * 0.5);

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

function distance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += ((a[i] as number) - (b[i] as number)) ** 2;
  return Math.sqrt(sum);
}

/** Plain training from x: what FedAvg's participant (model.fit) ends with. */
async function fitFrom(
  start: ArrayLike<number>,
  fit: tf.ModelFitArgs,
  seed = 1,
): Promise<{ y: Float32Array; model: tf.LayersModel }> {
  const model = tinyModel({ seed });
  vectorToModel(model, start);
  await model.fit(data.xs, data.ys, fit);
  return { y: modelToVector(model), model };
}

/**
 * SGD written out: for each epoch, each batch in order (no shuffle), w ← w − η·correct(g(w), w)
 * with the model's mean squared error. The reference FedProx and SCAFFOLD are checked against.
 */
function sgdLoop(
  start: ArrayLike<number>,
  options: { epochs: number; batchSize: number },
  correct: (gradient: tf.Tensor, weight: tf.Variable, offset: number) => tf.Tensor,
): Float32Array {
  const model = tinyModel();
  vectorToModel(model, start);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const offsets: number[] = [];
  let offset = 0;
  for (const v of variables) {
    offsets.push(offset);
    offset += v.size;
  }
  const n = data.xs.shape[0];
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    for (let begin = 0; begin < n; begin += options.batchSize) {
      const size = Math.min(options.batchSize, n - begin);
      tf.tidy(() => {
        const xb = data.xs.slice(begin, size);
        const yb = data.ys.slice(begin, size);
        const { grads } = tf.variableGrads(
          () => tf.mean(tf.mean(tf.squaredDifference(model.apply(xb) as tf.Tensor, yb), -1)) as tf.Scalar,
          variables,
        );
        variables.forEach((v, i) => {
          const g = correct(grads[v.name] as tf.Tensor, v, offsets[i] as number);
          v.assign(tf.sub(v, tf.mul(LR, g)));
        });
      });
    }
  }
  const y = modelToVector(model);
  model.dispose();
  return y;
}

/** A tensor of `vector`'s range for `weight` (inside a tidy). */
function rangeOf(vector: ArrayLike<number>, weight: tf.Variable, offset: number): tf.Tensor {
  return tf.tensor(
    Float32Array.from({ length: weight.size }, (_, i) => vector[offset + i] as number),
    weight.shape,
  );
}

/** A seeded Math.random (for model.fit's shuffle), restored by the returned function. */
function seedRandom(seed: number): () => void {
  const values = pseudoRandom(10_000, seed);
  let i = 0;
  const spy = vi.spyOn(Math, 'random').mockImplementation(() => ((values[i++ % values.length] as number) + 1) / 2);
  return () => spy.mockRestore();
}

describe('a training run: FedAvg', () => {
  it('sends the update y − x of maskedLength values; the model trains from x as model.fit does', async () => {
    const fit = { epochs: 2, batchSize: 16, shuffle: false };
    const participant = new TfjsParticipant({ model: tinyModel(), data, fit, run: { layout: layoutOf() } });
    const model = await participant.trainRound(x);
    const vector = participant.serializeTrainingResult(model);
    expect(vector).toBeInstanceOf(Float32Array);
    expect(vector.length).toBe(maskedLength(layoutOf()));
    const { y } = await fitFrom(x, fit);
    expect(modelToVector(model)).toEqual(y);
    expect(
      maxAbsDiff(
        vector,
        Float32Array.from(y, (v, i) => v - (x[i] as number)),
      ),
    ).toBe(0);
    // The same vector again until the next round; another model is refused.
    expect(participant.serializeTrainingResult(model)).toBe(vector);
    expect(() => participant.serializeTrainingResult(tinyModel())).toThrow(TrainingRunError);
  });

  it('without a run, or with a layout that sends the model and no metrics, sends the weights as today', async () => {
    for (const run of [undefined, { layout: layoutOf({ send: 'model' }) }]) {
      const participant = new TfjsParticipant({
        model: tinyModel(),
        data,
        fit: { epochs: 1, shuffle: false },
        ...(run === undefined ? {} : { run }),
      });
      const model = await participant.trainRound(x);
      const vector = participant.serializeTrainingResult(model);
      expect(vector).toBeInstanceOf(Float32Array);
      expect(vector).toEqual((await fitFrom(x, { epochs: 1, shuffle: false })).y);
    }
  });

  it('needs the global model of globalLength values to train from', async () => {
    const participant = new TfjsParticipant({ model: tinyModel(), data, run: { layout: layoutOf() } });
    await expect(participant.trainRound(new Float32Array(P + 1))).rejects.toThrow(
      "global model: expected 49 values (the run layout's globalLength), got 50",
    );
    await expect(participant.trainRound(null)).rejects.toThrow(/expected one to train from/);
    const scaffold = new TfjsParticipant({
      model: tinyModel(),
      data,
      run: { layout: layoutOf({ controlVariates: true }), algorithm: { kind: 'scaffold' } },
    });
    const error = await scaffold.trainRound(x).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingRunError);
    expect((error as TrainingRunError).code).toBe('training-run');
    expect((error as Error).message).toBe("global model: expected 98 values (the run layout's globalLength), got 49");
  });
});

describe('a training run: FedProx', () => {
  it('μ = 0 is plain training: the same weights as model.fit, with the same seeded shuffle', async () => {
    const fit = { epochs: 3, batchSize: 16 }; // shuffle: true, model.fit's default
    const participant = new TfjsParticipant({
      model: tinyModel(),
      data,
      fit,
      run: { layout: layoutOf(), algorithm: { kind: 'fedprox', mu: 0 } },
    });
    let restore = seedRandom(5);
    let y: Float32Array;
    try {
      y = modelToVector(await participant.trainRound(x));
    } finally {
      restore();
    }
    restore = seedRandom(5);
    let plain: Float32Array;
    try {
      plain = (await fitFrom(x, fit)).y;
    } finally {
      restore();
    }
    expect(maxAbsDiff(y, plain)).toBeLessThan(1e-6);
    // and the seed mattered: another shuffle ends elsewhere.
    restore = seedRandom(6);
    try {
      expect(maxAbsDiff((await fitFrom(x, fit)).y, plain)).toBeGreaterThan(1e-4);
    } finally {
      restore();
    }
  });

  it('μ > 0 takes the steps w ← w − η(g + μ(w − x)), as an SGD loop written out does', async () => {
    const options = { epochs: 3, batchSize: 16 };
    const mu = 0.7;
    const participant = new TfjsParticipant({
      model: tinyModel(),
      data,
      fit: { ...options, shuffle: false },
      run: { layout: layoutOf(), algorithm: { kind: 'fedprox', mu } },
    });
    const model = await participant.trainRound(x);
    const expected = sgdLoop(x, options, (g, w, offset) => tf.add(g, tf.mul(mu, tf.sub(w, rangeOf(x, w, offset)))));
    const plain = sgdLoop(x, options, (g) => g);
    expect(maxAbsDiff(modelToVector(model), expected)).toBeLessThan(1e-5);
    expect(maxAbsDiff(expected, plain)).toBeGreaterThan(1e-3); // the proximal term changed something
    const vector = participant.serializeTrainingResult(model);
    expect(
      maxAbsDiff(
        vector,
        Float64Array.from(expected, (v, i) => v - (x[i] as number)),
      ),
    ).toBeLessThan(1e-5);
  });

  it('a larger μ keeps the local model closer to x', async () => {
    const distances: number[] = [];
    for (const mu of [0, 0.5, 5]) {
      const participant = new TfjsParticipant({
        model: tinyModel(),
        data,
        fit: { epochs: 4, batchSize: 8, shuffle: false },
        run: { layout: layoutOf(), algorithm: { kind: 'fedprox', mu } },
      });
      distances.push(distance(modelToVector(await participant.trainRound(x)), x));
    }
    expect(distances[0]).toBeGreaterThan(0.05);
    expect(distances[1]).toBeLessThan(distances[0] as number);
    expect(distances[2]).toBeLessThan(0.5 * (distances[1] as number));
  });

  it('reports progress per batch as fit does, and leaks no tensor', async () => {
    const progress: TrainingProgress[] = [];
    const participant = new TfjsParticipant({
      model: tinyModel(),
      data: () => syntheticData(40, 3),
      fit: { epochs: 2, batchSize: 16 },
      onProgress: (p) => progress.push(p),
      run: {
        layout: layoutOf({ metrics: ['loss'] }),
        algorithm: { kind: 'fedprox', mu: 0.1 },
        evaluationData: () => syntheticData(10, 4),
      },
    });
    participant.serializeTrainingResult(await participant.trainRound(x));
    expect(progress.map((p) => [p.epoch, p.batch, p.batches])).toEqual([
      [1, 1, 3],
      [1, 2, 3],
      [1, 3, 3],
      [2, 1, 3],
      [2, 2, 3],
      [2, 3, 3],
    ]);
    for (const p of progress) expect(p.loss).toBeGreaterThan(0);
    const before = tf.memory().numTensors;
    for (let round = 0; round < 2; round++) participant.serializeTrainingResult(await participant.trainRound(x));
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('a training run: SCAFFOLD', () => {
  const layout = layoutOf({ controlVariates: true });
  const options = { epochs: 2, batchSize: 16 };
  const K = 2 * 3; // 2 epochs of 3 batches (40 examples, batches of 16)

  function scaffoldParticipant(): TfjsParticipant {
    return new TfjsParticipant({
      model: tinyModel(),
      data,
      fit: { ...options, shuffle: false },
      run: { layout, algorithm: { kind: 'scaffold' } },
    });
  }

  it('round 1 (c = cᵢ = 0) is plain SGD, and Δc = (x − y)/(K·η_l)', async () => {
    const participant = scaffoldParticipant();
    const global = new Float64Array(2 * P);
    global.set(x);
    const model = await participant.trainRound(global);
    const y = modelToVector(model);
    expect(maxAbsDiff(y, (await fitFrom(x, { ...options, shuffle: false })).y)).toBeLessThan(1e-6);
    const vector = participant.serializeTrainingResult(model);
    expect(vector.length).toBe(2 * P);
    const update = vector.subarray(0, P);
    const delta = vector.subarray(P, 2 * P);
    expect(
      maxAbsDiff(
        update,
        Float32Array.from(y, (v, i) => v - (x[i] as number)),
      ),
    ).toBe(0);
    const expectedDelta = Float64Array.from(y, (v, i) => ((x[i] as number) - v) / (K * LR));
    expect(maxAbsDiff(delta, expectedDelta)).toBeLessThan(1e-5); // float32 entries of size ≈ 1–10
    expect(maxAbsDiff(delta, new Float64Array(P))).toBeGreaterThan(1e-3);
  });

  it('round 2 steps with g − cᵢ + c, cᵢ kept from round 1; Δc = (x − y)/(K·η_l) − c', async () => {
    const participant = scaffoldParticipant();
    const first = new Float64Array(2 * P);
    first.set(x);
    const round1 = participant.serializeTrainingResult(await participant.trainRound(first));
    participant.onUpdateAccepted(1); // the coordinator took the update: cᵢ moves by its Δc
    const ci = Float64Array.from(round1.subarray(P, 2 * P)); // cᵢ⁺ = 0 + Δc

    const x2 = Float64Array.from(pseudoRandom(P, 12), (v) => v * 0.5);
    const c2 = Float64Array.from(pseudoRandom(P, 13), (v) => v * 0.2);
    const second = new Float64Array(2 * P);
    second.set(x2);
    second.set(c2, P);
    const model = await participant.trainRound(second);
    const y2 = modelToVector(model);

    const expected = sgdLoop(x2, options, (g, w, offset) =>
      tf.add(g, tf.sub(rangeOf(c2, w, offset), rangeOf(ci, w, offset))),
    );
    expect(maxAbsDiff(y2, expected)).toBeLessThan(1e-5);
    // cᵢ mattered: the same round from cᵢ = 0 (a fresh participant) ends elsewhere.
    const fresh = sgdLoop(x2, options, (g, w, offset) => tf.add(g, rangeOf(c2, w, offset)));
    expect(maxAbsDiff(expected, fresh)).toBeGreaterThan(1e-3);

    const vector = participant.serializeTrainingResult(model);
    const expectedDelta = Float64Array.from(y2, (v, i) => ((x2[i] as number) - v) / (K * LR) - (c2[i] as number));
    expect(maxAbsDiff(vector.subarray(P, 2 * P), expectedDelta)).toBeLessThan(1e-5);
  });

  it('a round that starts from the same x as the last (it never completed) first undoes the last Δc', async () => {
    const again = scaffoldParticipant();
    const once = scaffoldParticipant();
    const first = new Float64Array(2 * P);
    first.set(x);
    await again.trainRound(first);
    again.onUpdateAccepted(1); // accepted, but the round failed: the next round starts from x again
    const retried = again.serializeTrainingResult(await again.trainRound(first));
    const fresh = once.serializeTrainingResult(await once.trainRound(first));
    // The same as a participant training from x for the first time: cᵢ went back to 0.
    expect(maxAbsDiff(retried, fresh)).toBeLessThan(1e-6);
    // A completed round moves x: cᵢ stays (round 2 above steps with it).
  });

  it('an update that was never accepted (refused after its phase closed) leaves cᵢ where it was', async () => {
    const late = scaffoldParticipant();
    const once = scaffoldParticipant();
    const first = new Float64Array(2 * P);
    first.set(x);
    await late.trainRound(first); // trained and sent, but refused: no onUpdateAccepted
    // the round completed without it: x moved
    const second = new Float64Array(2 * P);
    second.set(Float64Array.from(pseudoRandom(P, 12), (v) => v * 0.5));
    second.set(
      Float64Array.from(pseudoRandom(P, 13), (v) => v * 0.2),
      P,
    );
    const after = late.serializeTrainingResult(await late.trainRound(second));
    const fresh = once.serializeTrainingResult(await once.trainRound(second));
    expect(maxAbsDiff(after, fresh)).toBeLessThan(1e-6); // cᵢ is still 0
    // Both accepted in round 2 (one told twice: the second time nothing waits): the same cᵢ after.
    late.onUpdateAccepted(2);
    late.onUpdateAccepted(2);
    once.onUpdateAccepted(2);
    const third = new Float64Array(2 * P);
    third.set(Float64Array.from(pseudoRandom(P, 15), (v) => v * 0.5));
    third.set(
      Float64Array.from(pseudoRandom(P, 16), (v) => v * 0.2),
      P,
    );
    const a = late.serializeTrainingResult(await late.trainRound(third));
    const b = once.serializeTrainingResult(await once.trainRound(third));
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-6);
  });

  it('leaks no tensor over rounds', async () => {
    const participant = scaffoldParticipant();
    const global = new Float64Array(2 * P);
    global.set(x);
    global.set(pseudoRandom(P, 14), P);
    participant.serializeTrainingResult(await participant.trainRound(global));
    const before = tf.memory().numTensors;
    for (let round = 0; round < 2; round++) participant.serializeTrainingResult(await participant.trainRound(global));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('needs plain SGD: Adam and momentum are refused, at construction and after a recompile', async () => {
    for (const [optimizer, name] of [
      [tf.train.adam(0.01), 'Adam'],
      [tf.train.momentum(0.01, 0.9), 'Momentum'],
    ] as const) {
      const model = tinyModel({ compile: false });
      model.compile({ optimizer, loss: 'meanSquaredError' });
      expect(() => new TfjsParticipant({ model, data, run: { layout, algorithm: { kind: 'scaffold' } } })).toThrow(
        `scaffold: expected a model compiled with plain SGD (optimizer: tf.train.sgd(learningRate)), got ${name}`,
      );
    }
    const participant = scaffoldParticipant();
    participant.model.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
    await expect(participant.trainRound(new Float64Array(2 * P))).rejects.toThrow(/got Adam/);
  });
});

describe('a training run: federated evaluation', () => {
  /** 4 inputs → 3 classes (softmax), with accuracy: 4·3 + 3 = 15 weights. */
  function classifier(): tf.LayersModel {
    const model = tf.sequential({
      layers: [
        tf.layers.dense({
          inputShape: [4],
          units: 3,
          activation: 'softmax',
          kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
        }),
      ],
    });
    model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    return model;
  }

  function classes(count: number, seed: number): { xs: tf.Tensor2D; ys: tf.Tensor2D } {
    const inputs = pseudoRandom(count * 4, seed);
    const labels = Array.from({ length: count }, (_, i) => {
      const a = inputs[i * 4] as number;
      return a < -0.3 ? 0 : a < 0.3 ? 1 : 2;
    });
    return { xs: tf.tensor2d(inputs, [count, 4]), ys: tf.oneHot(tf.tensor1d(labels, 'int32'), 3) as tf.Tensor2D };
  }

  it('evaluates x before training: entries = n/(s·N), loss·n/(s·N), accuracy·n/(s·N)', async () => {
    const train = classes(30, 21);
    const validation = classes(40, 22);
    const model = classifier();
    const P15 = weightCount(model);
    const layout = layoutOf({ modelLength: P15, metrics: ['loss', 'accuracy'], maxExamples: 1000 });
    const participant = new TfjsParticipant({
      model,
      data: train,
      fit: { epochs: 2, batchSize: 10 },
      run: { layout, evaluationData: validation, scalar: 2 },
    });
    const global = Float64Array.from(pseudoRandom(P15, 23));
    const vector = participant.serializeTrainingResult(await participant.trainRound(global));
    expect(vector.length).toBe(P15 + 3);

    const reference = classifier();
    vectorToModel(reference, global);
    const [loss, accuracy] = (reference.evaluate(validation.xs, validation.ys) as tf.Scalar[]).map(
      (s) => s.dataSync()[0] as number,
    );
    const weight = 40 / (2 * 1000);
    expect(vector[P15]).toBe(Math.fround(weight));
    expect(vector[P15 + 1]).toBeCloseTo((loss as number) * weight, 7);
    expect(vector[P15 + 2]).toBeCloseTo((accuracy as number) * weight, 7);
    expect(accuracy).toBeGreaterThan(0);
    // That was x, not the trained model: training changed the loss.
    const [after] = (model.evaluate(validation.xs, validation.ys) as tf.Scalar[]).map((s) => s.dataSync()[0] as number);
    expect(Math.abs((after as number) - (loss as number))).toBeGreaterThan(1e-4);
    tf.dispose([train.xs, train.ys, validation.xs, validation.ys]);
  });

  it('without evaluation data the entries are 0; a metric the model does not compute is an error naming it', async () => {
    const train = classes(20, 24);
    const model = classifier();
    const layout = layoutOf({ modelLength: weightCount(model), metrics: ['loss'] });
    const participant = new TfjsParticipant({ model, data: train, run: { layout } });
    const vector = participant.serializeTrainingResult(await participant.trainRound(modelToVector(model)));
    expect(Array.from(vector.subarray(weightCount(model)))).toEqual([0, 0]);

    const missing = new TfjsParticipant({
      model,
      data: train,
      run: { layout: { ...layout, metrics: ['loss', 'auc'] }, evaluationData: train },
    });
    await expect(missing.trainRound(modelToVector(model))).rejects.toThrow(
      'run.layout.metrics: the model does not compute "auc"; it computes "loss", "accuracy" (model.compile({ metrics }))',
    );
    tf.dispose([train.xs, train.ys]);
  });

  it('a layout that sends the model with metrics gets [y | evaluation]', async () => {
    const validation = classes(10, 25);
    const model = classifier();
    const P15 = weightCount(model);
    const participant = new TfjsParticipant({
      model,
      data: validation,
      fit: { epochs: 1 },
      run: { layout: layoutOf({ modelLength: P15, send: 'model', metrics: ['accuracy'] }), evaluationData: validation },
    });
    const vector = participant.serializeTrainingResult(await participant.trainRound(modelToVector(model)));
    expect(vector.length).toBe(P15 + 2);
    expect(maxAbsDiff(vector.subarray(0, P15), modelToVector(model))).toBe(0);
    expect(vector[P15]).toBe(Math.fround(10 / 1000));
    // Before the first global model there is nothing to evaluate.
    const none = participant.serializeTrainingResult(await participant.trainRound(null));
    expect(Array.from(none.subarray(P15))).toEqual([0, 0]);
    tf.dispose([validation.xs, validation.ys]);
  });
});

describe('a training run that does not fit', () => {
  it.each([
    [{ layout: layoutOf({ modelLength: 50 }) }, "run.layout.modelLength: expected the model's weight count 49, got 50"],
    [
      { layout: { ...layoutOf(), maxExamples: 0 } },
      'run.layout: vector layout: maxExamples: expected an integer ≥ 1, got 0',
    ],
    [
      { layout: layoutOf(), algorithm: { kind: 'fedprox', mu: -1 } },
      'run.algorithm.mu: expected a finite number ≥ 0, got -1',
    ],
    [
      { layout: layoutOf({ send: 'model' }), algorithm: { kind: 'fedprox', mu: 1 } },
      'run.algorithm: fedprox needs layout.send = "update", got "model"',
    ],
    [
      { layout: layoutOf(), algorithm: { kind: 'scaffold' } },
      'run.algorithm: scaffold needs a layout with control variates (layout.controlVariates = true)',
    ],
    [
      { layout: layoutOf({ controlVariates: true }) },
      'run.algorithm: the layout has control variates, which only scaffold produces; got fedavg',
    ],
    [
      { layout: layoutOf(), algorithm: { kind: 'fedsgd' } },
      'run.algorithm.kind: expected "fedavg", "fedprox" or "scaffold", got fedsgd',
    ],
    [{ layout: layoutOf(), scalar: Number.NaN }, 'run.scalar: expected a finite number ≥ 0, got NaN'],
  ])('is refused at construction: %o', (run, message) => {
    const construct = () =>
      new TfjsParticipant({
        model: tinyModel(),
        data,
        run: run as ConstructorParameters<typeof TfjsParticipant>[0]['run'] & object,
      });
    expect(construct).toThrow(TrainingRunError);
    expect(construct).toThrow(message);
  });
});

describe('one round at a time, from the weights as loaded', () => {
  it('skips a round whose task comes while the last one is still training, leaving the first intact', async () => {
    const model = tinyModel({ seed: 3 });
    const participant = new TfjsParticipant({
      model,
      data,
      fit: { epochs: 3, batchSize: 8 },
      run: { layout: layoutOf() },
    });
    const first = participant.trainRound(x);
    await expect(participant.trainRound(Float64Array.from(x, (v) => v + 1))).rejects.toThrow(
      /previous round is still training; this round is skipped/,
    );
    const result = await first;
    expect(participant.serializeTrainingResult(result)).toHaveLength(P);
    // The next round trains normally.
    await participant.trainRound(x);
    model.dispose();
  });

  it('measures the update from the float32 weights it trained from, so an untrained weight sends 0', async () => {
    const model = tinyModel({ seed: 4 });
    // Freeze the first layer: its weights get no gradient and must send exactly 0.
    (model.layers[0] as tf.layers.Layer).trainable = false;
    model.compile({ optimizer: tf.train.sgd(LR), loss: 'meanSquaredError' });
    const participant = new TfjsParticipant({
      model,
      data,
      fit: { epochs: 1, batchSize: 8 },
      run: { layout: layoutOf() },
    });
    // A float64 global model whose values are not float32 numbers.
    const global = Float64Array.from(x, (v) => v + 1e-12);
    const vector = participant.serializeTrainingResult(await participant.trainRound(global));
    // The model's weights list trainable ones first: the second layer (8 + 1), then the frozen first (4·8 + 8).
    const trained = 8 + 1;
    expect([...vector.subarray(trained)].filter((v) => v !== 0)).toEqual([]);
    expect(vector.subarray(0, trained).some((v) => v !== 0)).toBe(true);
    model.dispose();
  });
});
