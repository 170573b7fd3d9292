import { ParticipantABC } from '@petfl/sdk';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { lossOf, pseudoRandom, syntheticData, tinyModel, useWasm } from '../test-support/tfjs.ts';
import { TfjsParticipant, type TrainingProgress } from './tfjs-participant.ts';
import { ModelShapeMismatchError, modelToVector, weightCount } from './weights.ts';

let data: { xs: tf.Tensor2D; ys: tf.Tensor2D };
beforeAll(async () => {
  await useWasm();
  data = syntheticData(64);
});
afterAll(() => tf.dispose([data.xs, data.ys]));

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

describe('TfjsParticipant', () => {
  it('is a ParticipantABC; the loss goes down over two rounds; progress reports epoch and batch', async () => {
    expect(tf.getBackend()).toBe('wasm');
    const progress: TrainingProgress[] = [];
    const model = tinyModel();
    const participant = new TfjsParticipant({
      model,
      data,
      fit: { epochs: 3, batchSize: 16, shuffle: false },
      onProgress: (p) => progress.push(p),
    });
    expect(participant).toBeInstanceOf(ParticipantABC);
    expect(await participant.participateInUpdateTask()).toBe(true);

    const losses = [await lossOf(model, data)];
    for (let round = 0; round < 2; round++) {
      progress.length = 0;
      const result = await participant.trainRound(null);
      expect(result).toBe(model);
      losses.push(await lossOf(model, data));
      // 64 examples in batches of 16: 4 batches per epoch, 3 epochs.
      expect(progress.map((p) => [p.epoch, p.batch])).toEqual([
        [1, 1],
        [1, 2],
        [1, 3],
        [1, 4],
        [2, 1],
        [2, 2],
        [2, 3],
        [2, 4],
        [3, 1],
        [3, 2],
        [3, 3],
        [3, 4],
      ]);
      for (const p of progress) {
        expect(p.epochs).toBe(3);
        expect(p.batches).toBe(4);
        expect(p.loss).toBeGreaterThan(0);
      }
    }
    expect(losses[1]).toBeLessThan(losses[0] as number);
    expect(losses[2]).toBeLessThan(losses[1] as number);

    const serialized = participant.serializeTrainingResult(model);
    expect(serialized).toBeInstanceOf(Float32Array);
    expect(serialized.length).toBe(weightCount(model));
    expect(bits(serialized)).toEqual(bits(modelToVector(model)));
  });

  it('reads the trained weights asynchronously: serializeTrainingResult after trainRound calls no dataSync', async () => {
    const model = tinyModel({ seed: 3 });
    const participant = new TfjsParticipant({ model, data, fit: { epochs: 1, batchSize: 32 } });
    const result = await participant.trainRound(null);
    const expected = modelToVector(model);
    const dataSync = vi.spyOn(tf.Tensor.prototype, 'dataSync');
    try {
      const serialized = participant.serializeTrainingResult(result);
      expect(dataSync).not.toHaveBeenCalled();
      expect(bits(serialized)).toEqual(bits(expected));
      // Used once: a second call (no training in between) reads the model itself.
      expect(bits(participant.serializeTrainingResult(result))).toEqual(bits(expected));
      expect(dataSync).toHaveBeenCalled();
    } finally {
      dataSync.mockRestore();
    }
  });

  it('starts from the given global model, and passes it through deserializeTrainingInput as is', async () => {
    const model = tinyModel({ seed: 5 });
    const startedFrom: Float32Array[] = [];
    const participant = new TfjsParticipant({
      model,
      data,
      // The app's own fit callbacks still run, beside the progress one.
      fit: { epochs: 1, batchSize: 32, callbacks: { onTrainBegin: () => void startedFrom.push(modelToVector(model)) } },
    });
    const global = pseudoRandom(weightCount(model), 21);
    const input = participant.deserializeTrainingInput(global);
    expect(input).toBe(global);
    await participant.trainRound(input);
    expect(startedFrom).toHaveLength(1);
    expect(bits(startedFrom[0] as Float32Array)).toEqual(bits(global));
    // It trained from there: the weights moved.
    expect(bits(modelToVector(model))).not.toEqual(bits(global));

    // A Float64Array global model works the same (rounded to float32).
    const global64 = Float64Array.from(pseudoRandom(weightCount(model), 22));
    await participant.trainRound(global64);
    expect(bits(startedFrom[1] as Float32Array)).toEqual(bits(Float32Array.from(global64)));
  });

  it('rejects a global model of the wrong length before training', async () => {
    const model = tinyModel();
    const before = modelToVector(model);
    const participant = new TfjsParticipant({ model, data, fit: { epochs: 1 } });
    await expect(participant.trainRound(new Float32Array(48))).rejects.toThrow(ModelShapeMismatchError);
    await expect(participant.trainRound(new Float32Array(48))).rejects.toThrow('expected 49 weights');
    expect(bits(modelToVector(model))).toEqual(bits(before));
  });

  it('makes data from a function once per round and disposes it: no tensors leak', async () => {
    const model = tinyModel();
    let made = 0;
    const participant = new TfjsParticipant({
      model,
      data: () => {
        made++;
        return syntheticData(32, made);
      },
      fit: { epochs: 2, batchSize: 8 },
    });
    await participant.trainRound(null); // the first fit may set up optimizer state
    const before = tf.memory().numTensors;
    await participant.trainRound(null);
    await participant.trainRound(modelToVector(model));
    participant.serializeTrainingResult(model);
    expect(tf.memory().numTensors).toBe(before);
    expect(made).toBe(3);
  });

  it('counts batches after validationSplit; a throwing onProgress is reported and training goes on', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const seen: TrainingProgress[] = [];
      const participant = new TfjsParticipant({
        model: tinyModel(),
        data,
        // 64 · 0.75 = 48 training examples in batches of 10: 5 batches.
        fit: { epochs: 2, batchSize: 10, validationSplit: 0.25 },
        onProgress: (p) => {
          seen.push(p);
          throw new Error('UI bug');
        },
      });
      await participant.trainRound(null);
      expect(seen).toHaveLength(10);
      expect(seen.at(-1)).toMatchObject({ epoch: 2, epochs: 2, batch: 5, batches: 5 });
      expect(errors).toHaveBeenCalledTimes(10);
      expect(errors.mock.calls[0]?.[0]).toBe('TfjsParticipant onProgress threw');
    } finally {
      errors.mockRestore();
    }
  });

  it('needs a compiled model', () => {
    const model = tinyModel({ compile: false });
    expect(() => new TfjsParticipant({ model, data })).toThrow(/expected a compiled model/);
    model.dispose();
  });
});
