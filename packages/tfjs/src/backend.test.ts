import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { WASM_DIR } from '../test-support/tfjs.ts';
import { backendCanTrainConv, DEFAULT_BACKENDS, NoUsableBackendError, selectBackend } from './backend.ts';

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
    });
    // The factories are the originals again.
    expect(() => tf.engine().registryFactory['throws-on-init']?.factory()).toThrow('no adapter found');
  });

  it('skips a backend that computes wrong, with the numbers', async () => {
    // A cpu clone whose matmul is off by 1 %.
    const matMul = tf.getKernel('BatchMatMul', 'cpu');
    if (matMul === undefined) throw new Error('no cpu BatchMatMul');
    register('skewed', freshCpu);
    copyCpuKernels('skewed', {
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
