/**
 * The page's side of the scoring Worker against the Worker's own service (ScoringService) behind a
 * Worker-like loopback: messages are structured-cloned and answered later, as across a thread. The
 * real Worker scores in every e2e tab.
 */

import { describe, expect, it } from 'vitest';
import { denseWeightCount } from '../demo.ts';
import { scores } from '../evaluate.ts';
import { type MnistData, PIXELS } from '../mnist.ts';
import { RemoteScorer, type ScorerWorker, ScoringService, type ToScorer } from './remote-scorer.ts';

class LoopbackWorker implements ScorerWorker {
  readonly service = new ScoringService();
  readonly received: ToScorer[] = [];
  terminated = false;
  onmessage: ScorerWorker['onmessage'] = null;
  onerror: ScorerWorker['onerror'] = null;

  postMessage(message: unknown, options: Transferable[] | StructuredSerializeOptions = []): void {
    const transfer = Array.isArray(options) ? options : (options.transfer ?? []);
    const copy = structuredClone(message, { transfer }) as ToScorer; // what crossing a thread does
    this.received.push(copy);
    setTimeout(() => {
      if (this.terminated) return;
      const answer = this.service.answer(copy);
      if (answer !== undefined) this.onmessage?.call(this as unknown as Worker, { data: answer } as MessageEvent);
    }, 0);
  }

  terminate(): void {
    this.terminated = true;
  }

  fail(message: string): void {
    this.onerror?.call(this as unknown as Worker, { message, preventDefault() {} } as ErrorEvent);
  }
}

const LAYERS = [PIXELS, 4, 10];

function randomData(count: number): MnistData {
  let x = 12345;
  const next = () => {
    x = (x * 1103515245 + 12345) >>> 0;
    return x >>> 16;
  };
  const pixels = new Uint8Array(count * PIXELS).map(() => next() & 0xff);
  const labels = new Uint8Array(count).map(() => next() % 10);
  return { count, pixels, labels };
}

function randomModel(seed: number): Float32Array {
  let x = seed;
  return new Float32Array(denseWeightCount(LAYERS)).map(() => {
    x = (x * 1664525 + 1013904223) >>> 0;
    return (x / 2 ** 32 - 0.5) * 0.2;
  });
}

const data = randomData(30);
const sets = { test: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], evaluation: [20, 21, 22, 23, 24, 25, 26, 27, 28, 29] };

function scorer(worker: LoopbackWorker): RemoteScorer {
  return new RemoteScorer({ layers: LAYERS, data, sets, createWorker: () => worker });
}

describe('RemoteScorer', () => {
  it('scores each model on the set asked for, as evaluate.ts does, from a copy of the model', async () => {
    const worker = new LoopbackWorker();
    const remote = scorer(worker);
    const a = randomModel(1);
    const b = randomModel(2);
    const expected = [scores(a, LAYERS, data, sets.test), scores(b, LAYERS, data, sets.evaluation)];
    const asked = [remote.scores(a, 'test'), remote.scores(b, 'evaluation')];
    a.fill(0); // the page's array may change once asked: the Worker has its copy
    expect(await Promise.all(asked)).toEqual(expected);
    expect(expected[0]).not.toEqual(scores(b, LAYERS, data, sets.test)); // the sets and models matter
    // Handed over, the array itself moves: empty here afterwards, scored the same there.
    const c = randomModel(3);
    const scoredC = scores(c, LAYERS, data, sets.test);
    const handed = remote.scores(c, 'test', true);
    expect(c.length).toBe(0);
    expect(await handed).toEqual(scoredC);
    expect(worker.received.map((m) => m.kind)).toEqual(['init', 'score', 'score', 'score']);
    // Only the 20 examples the sets name crossed, renumbered.
    const init = worker.received[0] as Extract<ToScorer, { kind: 'init' }>;
    expect(init.data.count).toBe(20);
    expect(init.data.pixels.length).toBe(20 * PIXELS);
    expect(init.sets.evaluation).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(data.pixels.length).toBe(30 * PIXELS); // the page's own data stays whole
  });

  it('rejects a model of the wrong length with the reason, and goes on scoring', async () => {
    const remote = scorer(new LoopbackWorker());
    await expect(remote.scores(new Float32Array(5), 'test')).rejects.toThrow(/expected 3190 weights, got 5/);
    const model = randomModel(3);
    expect(await remote.scores(model, 'test')).toEqual(scores(model, LAYERS, data, sets.test));
  });

  it('fails the open requests and every later one once the Worker fails', async () => {
    const worker = new LoopbackWorker();
    const remote = scorer(worker);
    const open = remote.scores(randomModel(4), 'test');
    worker.terminated = true; // the answer never comes
    worker.fail('out of memory');
    await expect(open).rejects.toThrow('scoring worker: out of memory');
    await expect(remote.scores(randomModel(5), 'test')).rejects.toThrow('scoring worker: out of memory');
  });

  it('stop() ends the Worker and fails what is still open', async () => {
    const worker = new LoopbackWorker();
    const remote = scorer(worker);
    const open = remote.scores(randomModel(6), 'evaluation');
    remote.stop();
    expect(worker.terminated).toBe(true);
    await expect(open).rejects.toThrow('scoring worker: stopped');
  });

  it('refuses sets that name examples the data does not have', () => {
    let started = false;
    const createWorker = () => {
      started = true;
      return new LoopbackWorker();
    };
    expect(
      () => new RemoteScorer({ layers: LAYERS, data, sets: { test: [30], evaluation: [] }, createWorker }),
    ).toThrow('scoring: example 30 is not among the 30 examples');
    expect(started).toBe(false);
  });
});

describe('ScoringService', () => {
  it('answers a score that comes before the examples with a reason', () => {
    const answer = new ScoringService().answer({ kind: 'score', id: 7, set: 'test', model: randomModel(7) });
    expect(answer).toEqual({ kind: 'failed', id: 7, message: 'scoring worker: no examples yet' });
  });
});
