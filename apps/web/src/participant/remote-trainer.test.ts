/**
 * The page's side of the training Worker against a scripted Worker: what `take`, `next` and
 * `newGlobalModel` send (moved, not copied) and hand back, which array an epoch's base is, and how a Worker that fails
 * before or after it is ready is reported. (The Worker itself trains in the e2e tests: every tab
 * of e2e/tests trains through it.)
 */

import type { BackendSelection } from '@petfl/tfjs';
import { describe, expect, it } from 'vitest';
import { RemoteTrainer, type RemoteTrainerOptions, type TrainerWorker } from './remote-trainer.ts';
import type { FromTrainer, ToTrainer } from './training-messages.ts';

class ScriptedWorker implements TrainerWorker {
  readonly sent: ToTrainer[] = [];
  /** The buffers each message moved (its transfer list). */
  readonly moved: Transferable[][] = [];
  terminated = false;
  onmessage: TrainerWorker['onmessage'] = null;
  onerror: TrainerWorker['onerror'] = null;

  postMessage(message: unknown, options: Transferable[] | StructuredSerializeOptions = []): void {
    this.sent.push(message as ToTrainer);
    this.moved.push(Array.isArray(options) ? options : (options.transfer ?? []));
  }

  terminate(): void {
    this.terminated = true;
  }

  answer(message: FromTrainer): void {
    this.onmessage?.call(this as unknown as Worker, { data: message } as MessageEvent);
  }

  kinds(): string[] {
    return this.sent.map((m) => m.kind);
  }
}

const SELECTION: BackendSelection = { backend: 'wasm', skipped: [], timings: [], source: 'first' };
const MEMORY = { numTensors: 7, numBytes: 100 };

function options(worker: ScriptedWorker, extra: Partial<RemoteTrainerOptions> = {}): RemoteTrainerOptions {
  return {
    layers: [4, 2],
    backends: ['wasm'],
    wasmPaths: {},
    xs: new Float32Array(8),
    ys: new Float32Array(4),
    count: 2,
    epochs: 1,
    batchSize: 2,
    createWorker: () => worker,
    ...extra,
  };
}

async function started(worker: ScriptedWorker, extra: Partial<RemoteTrainerOptions> = {}): Promise<RemoteTrainer> {
  const created = RemoteTrainer.create(options(worker, extra));
  worker.answer({ kind: 'ready', selection: SELECTION, weights: 10, memory: MEMORY });
  const { trainer, selection, weights } = await created;
  expect(selection).toEqual(SELECTION);
  expect(weights).toBe(10);
  return trainer;
}

const epochMessage = (baseId: number, extra: Partial<Extract<FromTrainer, { kind: 'epoch' }>> = {}): FromTrainer => ({
  kind: 'epoch',
  weights: Float32Array.of(baseId, 1),
  baseId,
  baseRound: null,
  ms: 5,
  memory: { numTensors: 9, numBytes: 200 },
  ...extra,
});

describe('RemoteTrainer', () => {
  it('sends the examples with init, and hands each epoch over once, with the base the Worker sent', async () => {
    const worker = new ScriptedWorker();
    const ends: number[] = [];
    const trainer = await started(worker, { onEpoch: ({ ms }) => ends.push(ms) });
    expect(worker.kinds()).toEqual(['init']);
    expect(trainer.memory()).toEqual(MEMORY);

    trainer.start();
    const initial = Float32Array.of(0.5, 0.5);
    worker.answer(epochMessage(0, { base: initial }));
    expect(ends).toEqual([5]);
    expect(trainer.memory()).toEqual({ numTensors: 9, numBytes: 200 });
    const first = trainer.take();
    expect(first?.base.model).toBe(initial);
    expect(first?.base.roundId).toBeNull();
    expect(Array.from(first?.weights ?? [])).toEqual([0, 1]);

    // None ready: take answers null and asks the Worker for one more epoch.
    expect(trainer.take()).toBeNull();
    expect(worker.kinds()).toEqual(['init', 'start', 'want']);

    // A global model moves to the Worker; the copy the Worker sends back is what the call resolves with.
    const global = Float64Array.of(1, 2);
    const copied = trainer.newGlobalModel(global, 4);
    expect(worker.sent.at(-1)).toEqual({ kind: 'global', id: 1, roundId: 4, model: global });
    expect(worker.moved.at(-1)).toEqual([global.buffer]);
    const copy = Float64Array.of(1, 2);
    worker.answer({ kind: 'global-copy', id: 1, model: copy });
    expect(await copied).toBe(copy);

    // The base comes with the first epoch trained from it, and is kept for the next ones.
    const base = Float64Array.of(1, 2);
    worker.answer(epochMessage(1, { baseRound: 4, base }));
    const second = trainer.take();
    expect(second?.base.model).toBe(base);
    expect(second?.base.roundId).toBe(4);
    worker.answer(epochMessage(1, { baseRound: 4 }));
    expect(trainer.take()?.base.model).toBe(base);
  });

  it('copies a global model that is a view on part of a buffer before moving it', async () => {
    const worker = new ScriptedWorker();
    const trainer = await started(worker);
    const buffer = new ArrayBuffer(16);
    const view = new Float32Array(buffer, 4, 2).fill(3);
    void trainer.newGlobalModel(view, 2);
    const sent = worker.sent.at(-1) as Extract<ToTrainer, { kind: 'global' }>;
    expect(sent.model).not.toBe(view);
    expect(Array.from(sent.model)).toEqual([3, 3]);
    expect(worker.moved.at(-1)).toEqual([sent.model.buffer]);
    expect(worker.moved.at(-1)).not.toContain(buffer);
  });

  it('next() waits for the next epoch when none is ready', async () => {
    const worker = new ScriptedWorker();
    const trainer = await started(worker);
    const next = trainer.next();
    expect(worker.kinds()).toEqual(['init', 'want']);
    worker.answer(epochMessage(0, { base: Float32Array.of(0, 0) }));
    expect(Array.from((await next).weights)).toEqual([0, 1]);
    expect(trainer.take()).toBeNull(); // handed to the waiter, not kept as well
  });

  it('reports an epoch whose base it no longer keeps, and forgets bases eight models back', async () => {
    const worker = new ScriptedWorker();
    const errors: string[] = [];
    const trainer = await started(worker, { onError: (e) => errors.push(e.message) });
    for (let round = 1; round <= 9; round++) {
      void trainer.newGlobalModel(Float32Array.of(round, round), round);
      worker.answer(epochMessage(round, { baseRound: round, base: Float32Array.of(round, round) }));
      expect(trainer.take()?.base.roundId).toBe(round);
    }
    worker.answer(epochMessage(1)); // base 1 was dropped when base 9 came
    expect(trainer.take()).toBeNull();
    expect(errors).toEqual([expect.stringContaining('base 1')]);
    worker.answer(epochMessage(2, { baseRound: 2 }));
    expect(trainer.take()?.base.roundId).toBe(2);
  });

  it('rejects when the Worker fails before it is ready, and ends it', async () => {
    const worker = new ScriptedWorker();
    const created = RemoteTrainer.create(options(worker));
    worker.answer({ kind: 'failed', name: 'NoUsableBackendError', message: 'no backend passed' });
    await expect(created).rejects.toMatchObject({ name: 'NoUsableBackendError', message: 'no backend passed' });
    expect(worker.terminated).toBe(true);
  });

  it('reports a failure after it is ready to onError, and sends nothing once stopped', async () => {
    const worker = new ScriptedWorker();
    const errors: string[] = [];
    const trainer = await started(worker, { onError: (e) => errors.push(`${e.name}: ${e.message}`) });
    worker.answer({ kind: 'failed', name: 'Error', message: 'out of memory' });
    expect(errors).toEqual(['Error: out of memory']);
    const waiting = trainer.newGlobalModel(Float32Array.of(1), 1);
    trainer.stop();
    await expect(waiting).rejects.toThrow('training worker: stopped');
    expect(worker.kinds()).toEqual(['init', 'global', 'stop']);
    expect(worker.terminated).toBe(true);
    trainer.start();
    await expect(trainer.newGlobalModel(Float32Array.of(1), 1)).rejects.toThrow('training worker: stopped');
    expect(worker.kinds()).toEqual(['init', 'global', 'stop']);
  });
});
