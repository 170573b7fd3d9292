import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { tinyModel, WASM_DIR } from '../test-support/tfjs.ts';
import {
  backendCanTrainConv,
  type ChoiceStore,
  DEFAULT_BACKENDS,
  type DeviceReport,
  layersModelTrial,
  modelSignature,
  NoUsableBackendError,
  type SelectBackendOptions,
  selectBackend,
  type TrainingTrial,
} from './backend.ts';
import { CHOICE_KEY_PREFIX } from './choice-key.ts';

const registered: string[] = [];
const kernelsAdded: [string, string][] = [];

afterEach(async () => {
  for (const [kernel, backend] of kernelsAdded.splice(0)) tf.unregisterKernel(kernel, backend);
  for (const name of registered.splice(0)) {
    if (tf.engine().registryFactory[name] !== undefined) tf.removeBackend(name);
  }
  await tf.setBackend('cpu');
});

/** A fresh cpu backend instance, made by the cpu backend's own registered factory. */
function freshCpu(): tf.KernelBackend {
  const entry = tf.engine().registryFactory['cpu'];
  if (entry === undefined) throw new Error('cpu backend not registered');
  return entry.factory() as tf.KernelBackend;
}

function register(name: string, factory: () => tf.KernelBackend | Promise<tf.KernelBackend>): void {
  tf.registerBackend(name, factory);
  registered.push(name);
}

/** A cpu clone that passes the self-check. */
function registerCpuClone(name: string): void {
  register(name, freshCpu);
  copyCpuKernels(name);
}

/** A cpu clone whose matmul is off by 1 %: it fails the self-check. */
function registerSkewed(name: string): void {
  const matMul = tf.getKernel('BatchMatMul', 'cpu');
  if (matMul === undefined) throw new Error('no cpu BatchMatMul');
  register(name, freshCpu);
  copyCpuKernels(name, {
    BatchMatMul: (args) => {
      const out = matMul.kernelFunc(args) as tf.TensorInfo;
      const backend = args.backend as tf.KernelBackend & {
        makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
        disposeIntermediateTensorInfo(info: tf.TensorInfo): void;
      };
      const values = Float32Array.from(backend.readSync(out.dataId) as Float32Array, (v) => v * 1.01);
      backend.disposeIntermediateTensorInfo(out);
      return backend.makeTensorInfo(out.shape, out.dtype, values);
    },
  });
}

/** Gives backend `name` every cpu kernel, with `override` in place of some. */
function copyCpuKernels(name: string, override: Partial<Record<string, tf.KernelFunc>> = {}): void {
  for (const kernel of tf.getKernelsForBackend('cpu')) {
    const kernelFunc = override[kernel.kernelName] ?? kernel.kernelFunc;
    tf.registerKernel({ ...kernel, backendName: name, kernelFunc });
    kernelsAdded.push([kernel.kernelName, name]);
  }
}

describe('selectBackend', () => {
  it('in Node picks wasm, skipping webgpu and webgl with the reason', async () => {
    expect(DEFAULT_BACKENDS).toEqual(['webgpu', 'webgl', 'wasm', 'cpu']);
    const selection = await selectBackend(undefined, { wasmPaths: WASM_DIR });
    expect(selection).toEqual({
      backend: 'wasm',
      skipped: [
        { backend: 'webgpu', reason: 'not registered: WebGPU is not available here (no navigator.gpu)' },
        { backend: 'webgl', reason: 'not registered: WebGL needs a browser page (no document, so no WebGL context)' },
      ],
      timings: [],
      source: 'first',
    });
    expect(tf.getBackend()).toBe('wasm');
    // Selecting again with wasm already initialised is a plain switch.
    await tf.setBackend('cpu');
    expect((await selectBackend(['wasm'])).backend).toBe('wasm');
  });

  it('skips a name that is not registered, listing the registered ones', async () => {
    const selection = await selectBackend(['no-such-backend', 'cpu']);
    expect(selection.backend).toBe('cpu');
    expect(selection.skipped).toHaveLength(1);
    expect(selection.skipped[0]?.backend).toBe('no-such-backend');
    expect(selection.skipped[0]?.reason).toMatch(
      /^not registered: no backend named 'no-such-backend' \(registered: .*cpu/,
    );
  });

  it('skips a backend whose initialisation throws or rejects, keeping the error', async () => {
    register('throws-on-init', () => {
      throw new Error('no adapter found');
    });
    register('rejects-on-init', () => Promise.reject(new Error('WebGL context lost')));
    const selection = await selectBackend(['throws-on-init', 'rejects-on-init', 'cpu']);
    expect(selection).toEqual({
      backend: 'cpu',
      skipped: [
        { backend: 'throws-on-init', reason: 'initialisation failed: no adapter found' },
        { backend: 'rejects-on-init', reason: 'initialisation failed: WebGL context lost' },
      ],
      timings: [],
      source: 'first',
    });
    // The factories are the originals again.
    expect(() => tf.engine().registryFactory['throws-on-init']?.factory()).toThrow('no adapter found');
  });

  it('skips a backend that computes wrong, with the numbers', async () => {
    registerSkewed('skewed');
    const selection = await selectBackend(['skewed', 'wasm', 'cpu'], { wasmPaths: WASM_DIR });
    expect(selection.backend).toBe('wasm');
    expect(selection.skipped).toHaveLength(1);
    expect(selection.skipped[0]?.reason).toMatch(
      /^self-check mismatch against cpu: product\[0\] = -?[\d.e-]+, cpu -?[\d.e-]+ \(tolerance 0\.001 × [\d.]+\)$/,
    );
    // A looser tolerance lets the same backend through.
    expect((await selectBackend(['skewed'], { tolerance: 0.05 })).backend).toBe('skewed');
  });

  it('skips a backend whose kernels are missing (self-check throws)', async () => {
    register('no-kernels', freshCpu);
    const selection = await selectBackend(['no-kernels', 'cpu']);
    expect(selection.backend).toBe('cpu');
    expect(selection.skipped[0]?.reason).toMatch(/^self-check failed: .*not registered for backend 'no-kernels'/);
  });

  it('throws NoUsableBackendError with every reason when none passes, and restores the backend before', async () => {
    await tf.setBackend('cpu');
    const tried = selectBackend(['webgpu', 'nope']);
    await expect(tried).rejects.toBeInstanceOf(NoUsableBackendError);
    await expect(tried).rejects.toThrow(
      /^no usable TensorFlow.js backend: webgpu \(not registered: .*navigator\.gpu\)\); nope \(not registered: /,
    );
    const error = (await tried.catch((e: unknown) => e)) as NoUsableBackendError;
    expect(error.skipped.map((s) => s.backend)).toEqual(['webgpu', 'nope']);
    expect(tf.getBackend()).toBe('cpu');
  });
});

describe('backendCanTrainConv', () => {
  it('is false for wasm (no Conv2D gradient kernels), true for cpu, webgl and webgpu', () => {
    expect(backendCanTrainConv('wasm')).toBe(false);
    expect(backendCanTrainConv('cpu')).toBe(true);
    expect(backendCanTrainConv('webgl')).toBe(true);
    expect(backendCanTrainConv('webgpu')).toBe(true);
    expect(backendCanTrainConv('no-such-backend')).toBe(false);
  });

  it('matches what the wasm backend really does: conv gradients fail there', async () => {
    await tf.setBackend('wasm');
    const x = tf.ones([1, 4, 4, 1]);
    const filter = tf.ones([2, 2, 1, 1]);
    const gradient = (): tf.Tensor =>
      tf.grad((f: tf.Tensor) => tf.sum(tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'valid')))(filter);
    expect(gradient).toThrow(/Conv2DBackpropFilter/);
    await tf.setBackend('cpu');
    const g = gradient();
    expect(Array.from(g.dataSync())).toEqual([9, 9, 9, 9]);
    tf.dispose([x, filter, g]);
  });
});

/**
 * Fake candidates for the speed selection: each trial step advances a fake clock by the active
 * backend's cost, so which is fastest is given, not measured (no timing in these tests).
 */
class FakeTrial {
  clock = 0;
  prepared: string[] = [];
  readonly costs: Record<string, number>;
  constructor(costs: Record<string, number>) {
    this.costs = costs;
  }

  trial(signature = 'model-a'): TrainingTrial {
    return {
      signature,
      prepare: () => {
        const backend = tf.getBackend();
        this.prepared.push(backend);
        return {
          run: () => {
            this.clock += this.costs[tf.getBackend()] ?? 1000;
          },
          dispose: () => {},
        };
      },
    };
  }

  options(store: ChoiceStore | null, extra: Partial<SelectBackendOptions> = {}): SelectBackendOptions {
    return {
      trial: this.trial(),
      store,
      userAgent: 'UA-1',
      now: () => this.clock,
      describeDevice: (backend) => (backend.startsWith('soft') ? SOFTWARE : undefined),
      ...extra,
    };
  }
}

const SOFTWARE: DeviceReport = { software: true, description: 'Google SwiftShader, fallback adapter' };

function memoryStore(): ChoiceStore & { readonly entries: Map<string, string> } {
  const entries = new Map<string, string>();
  return { entries, getItem: (k) => entries.get(k) ?? null, setItem: (k, v) => void entries.set(k, v) };
}

describe('selectBackend with a trial', () => {
  it('times every backend that passes and keeps the fastest', async () => {
    for (const name of ['slow', 'fast', 'mid']) registerCpuClone(name);
    const fake = new FakeTrial({ slow: 50, fast: 5, mid: 20 });
    const selection = await selectBackend(['slow', 'fast', 'mid', 'no-such-backend'], fake.options(null));
    expect(selection.backend).toBe('fast');
    expect(selection.source).toBe('measured');
    expect(tf.getBackend()).toBe('fast');
    expect(fake.prepared).toEqual(['slow', 'fast', 'mid']);
    // Fastest first. mid stopped after two timed steps: 40 ms was already over fast's 5 × 5 ms.
    expect(selection.timings).toEqual([
      { backend: 'fast', msPerStep: 5, steps: 5 },
      { backend: 'mid', msPerStep: 20, steps: 2 },
      { backend: 'slow', msPerStep: 50, steps: 5 },
    ]);
    expect(selection.skipped).toEqual([
      { backend: 'slow', reason: 'slower: 50.0 ms per training step, fast 5.00 ms' },
      { backend: 'mid', reason: 'slower: 20.0 ms per training step, fast 5.00 ms' },
      { backend: 'no-such-backend', reason: expect.stringMatching(/^not registered/) },
    ]);
  });

  it('sets a software device aside, and times it only when nothing else passes', async () => {
    registerCpuClone('soft-gpu');
    registerCpuClone('slow');
    registerSkewed('skewed');
    const fake = new FakeTrial({ 'soft-gpu': 1, slow: 50 });
    const selection = await selectBackend(['soft-gpu', 'slow'], fake.options(null));
    // The software device would be faster on the fake clock, but is never timed while slow passes.
    expect(selection.backend).toBe('slow');
    expect(fake.prepared).toEqual(['slow']);
    expect(selection.skipped).toEqual([
      {
        backend: 'soft-gpu',
        reason: 'software device (Google SwiftShader, fallback adapter): used only when no other backend passes',
      },
    ]);

    const alone = await selectBackend(['soft-gpu', 'skewed'], fake.options(null));
    expect(alone.backend).toBe('soft-gpu');
    expect(alone.timings).toEqual([
      { backend: 'soft-gpu', msPerStep: 1, steps: 5, device: SOFTWARE.description, software: true },
    ]);

    // Without a trial too: the first that passes, software devices last.
    const { describeDevice } = fake.options(null);
    const first = await selectBackend(['soft-gpu', 'slow'], describeDevice === undefined ? {} : { describeDevice });
    expect(first).toMatchObject({ backend: 'slow', source: 'first', skipped: [{ backend: 'soft-gpu' }] });
  });

  it('never chooses a backend that fails its self-check, however fast', async () => {
    registerSkewed('skewed');
    registerCpuClone('slow');
    const fake = new FakeTrial({ skewed: 0.1, slow: 50 });
    const selection = await selectBackend(['skewed', 'slow'], fake.options(null));
    expect(selection.backend).toBe('slow');
    expect(fake.prepared).toEqual(['slow']);
    expect(selection.skipped[0]).toMatchObject({ backend: 'skewed', reason: expect.stringMatching(/^self-check/) });

    // Nor when a remembered choice names it (a driver update broke it since): measured afresh.
    const store = memoryStore();
    await selectBackend(['skewed', 'slow'], fake.options(store));
    const [key, saved] = [...store.entries][0] as [string, string];
    store.setItem(key, JSON.stringify({ ...JSON.parse(saved), backend: 'skewed' }));
    const again = await selectBackend(['skewed', 'slow'], fake.options(store));
    expect(again).toMatchObject({ backend: 'slow', source: 'measured' });
    expect(JSON.parse(store.getItem(key) ?? '{}').backend).toBe('slow');
  });

  it('remembers the choice per user agent and model, and reuses it without timing', async () => {
    registerCpuClone('slow');
    registerCpuClone('fast');
    const fake = new FakeTrial({ slow: 50, fast: 5 });
    const store = memoryStore();
    const preferred = ['slow', 'fast'];
    const measured = await selectBackend(preferred, fake.options(store));
    expect(measured.source).toBe('measured');
    expect([...store.entries.keys()]).toEqual([expect.stringMatching(new RegExp(`^${CHOICE_KEY_PREFIX}[0-9a-f]{8}$`))]);
    expect(JSON.parse([...store.entries.values()][0] as string)).toMatchObject({
      userAgent: 'UA-1',
      signature: 'model-a',
      among: ['fast', 'slow'],
      backend: 'fast',
    });

    await tf.setBackend('cpu');
    fake.prepared.length = 0;
    const remembered = await selectBackend(preferred, fake.options(store));
    expect(remembered).toMatchObject({ backend: 'fast', source: 'remembered', timings: measured.timings });
    expect(remembered.skipped).toEqual([{ backend: 'slow', reason: expect.stringMatching(/^not tried: fast was/) }]);
    expect(tf.getBackend()).toBe('fast');
    expect(fake.prepared).toEqual([]);

    // Another browser, another model, other backends to choose among: each is measured afresh.
    fake.costs['slow'] = 1; // slow has become the fast one, as on another device
    const otherBrowser = await selectBackend(preferred, fake.options(store, { userAgent: 'UA-2' }));
    expect(otherBrowser).toMatchObject({ backend: 'slow', source: 'measured' });
    expect(fake.prepared).toEqual(['slow', 'fast']);
    const otherModel = await selectBackend(preferred, fake.options(store, { trial: fake.trial('model-b') }));
    expect(otherModel).toMatchObject({ backend: 'slow', source: 'measured' });
    expect(store.entries.size).toBe(2); // one entry per model
    const fewer = await selectBackend(['fast'], fake.options(store, { userAgent: 'UA-2' }));
    expect(fewer).toMatchObject({ backend: 'fast', source: 'measured' });
    // The entry now holds the last measurement: back to UA-1 with both backends measures again.
    fake.prepared.length = 0;
    expect((await selectBackend(preferred, fake.options(store))).source).toBe('measured');
    expect(fake.prepared).toEqual(['slow', 'fast']);
    expect((await selectBackend(preferred, fake.options(store))).source).toBe('remembered');
  });

  it('an unreadable entry or a store that refuses writes only means measuring again', async () => {
    registerCpuClone('fast');
    const fake = new FakeTrial({ fast: 5 });
    const broken: ChoiceStore = {
      getItem: () => '{not json',
      setItem: () => {
        throw new Error('QuotaExceededError');
      },
    };
    expect((await selectBackend(['fast'], fake.options(broken))).source).toBe('measured');
    expect((await selectBackend(['fast'], fake.options(broken))).source).toBe('measured');
  });

  it('skips a backend whose trial throws, with the error', async () => {
    registerCpuClone('fast');
    const trial: TrainingTrial = {
      signature: 'x',
      prepare: () => ({
        run: () => {
          if (tf.getBackend() === 'fast') throw new Error('kernel Foo not registered');
        },
        dispose: () => {},
      }),
    };
    const selection = await selectBackend(['fast', 'cpu'], { trial, store: null });
    expect(selection.backend).toBe('cpu');
    expect(selection.skipped).toEqual([{ backend: 'fast', reason: 'trial failed: kernel Foo not registered' }]);
  });

  it('layersModelTrial trains the real model on each backend, leaving no tensors behind', async () => {
    const build = () => tinyModel();
    const trial = layersModelTrial(build, { batchSize: 16, steps: 2 });
    await tf.setBackend('cpu');
    const signature = typeof trial.signature === 'string' ? trial.signature : trial.signature();
    const model = build();
    expect(signature).toBe(`${modelSignature(model)};batch 16;tfjs ${tf.version.tfjs}`);
    model.dispose();
    expect(signature).toMatch(/^Dense\[null,8\],Dense\[null,1\];49 weights;SGD;meanSquaredError;batch 16;/);

    const before = tf.memory().numTensors;
    const store = memoryStore();
    const selection = await selectBackend(['wasm', 'cpu'], { wasmPaths: WASM_DIR, trial, store, userAgent: 'node' });
    expect(['wasm', 'cpu']).toContain(selection.backend);
    expect(selection.source).toBe('measured');
    expect(selection.timings.map((t) => t.backend).sort()).toEqual(['cpu', 'wasm']);
    for (const t of selection.timings) expect(t.msPerStep).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(before);
    expect(JSON.parse([...store.entries.values()][0] as string).signature).toBe(signature);

    // A step really trains: the loss on the trial's own kind of batch goes down over steps.
    const step = await trial.prepare();
    const losses: number[] = [];
    for (let i = 0; i < 20; i++) losses.push((await step.run()) as number);
    step.dispose();
    expect(losses.at(-1)).toBeLessThan(losses[0] as number);
    expect(tf.memory().numTensors).toBe(before);
  });
});
