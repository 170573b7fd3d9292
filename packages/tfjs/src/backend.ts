/**
 * Backend selection: the fastest TensorFlow.js backend that works here and
 * computes right. Each preferred backend is tried in order; one is skipped,
 * with the reason, when it is not registered (webgpu registers only where
 * `navigator.gpu` exists, webgl only in a browser), when it fails to
 * initialise (no adapter, no WebGL context, the .wasm file not found), or when
 * a small self-check — a matmul and a gradient — disagrees with the cpu
 * backend. The first that passes stays active. A backend that initialises
 * but computes wrong (float16 textures on some mobile GPUs, driver bugs)
 * would silently corrupt every local model; the self-check catches that
 * before training starts.
 *
 * Importing this module registers the wasm and webgpu backends (webgl and
 * cpu come with @tensorflow/tfjs).
 */

import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-webgpu';

/** The order `selectBackend` tries by default: fastest first. */
export const DEFAULT_BACKENDS: readonly string[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

export interface SkippedBackend {
  readonly backend: string;
  readonly reason: string;
}

export interface BackendSelection {
  /** The backend now active (`tf.getBackend()`). */
  readonly backend: string;
  /** The preferred backends tried before it, in order, each with why it was not taken. */
  readonly skipped: readonly SkippedBackend[];
}

export interface SelectBackendOptions {
  /**
   * Where the wasm backend finds its .wasm files (passed to `setWasmPaths`
   * before wasm initialises): a folder URL or path ending in '/', or a map
   * from file name to URL. Left out, the wasm backend's own default applies.
   */
  readonly wasmPaths?: string | Readonly<Record<string, string>>;
  /** Largest allowed |got − cpu| relative to the largest cpu value (default 1e-3). */
  readonly tolerance?: number;
}

/** No preferred backend passed; `skipped` says why for each. */
export class NoUsableBackendError extends Error {
  override readonly name = 'NoUsableBackendError';
  readonly skipped: readonly SkippedBackend[];

  constructor(skipped: readonly SkippedBackend[]) {
    super(`no usable TensorFlow.js backend: ${skipped.map((s) => `${s.backend} (${s.reason})`).join('; ')}`);
    this.skipped = skipped;
  }
}

/**
 * Tries `preferred` in order and keeps the first backend that initialises
 * and passes the self-check active. Throws NoUsableBackendError when none
 * does (the backend active before is then restored where possible).
 */
export async function selectBackend(
  preferred: readonly string[] = DEFAULT_BACKENDS,
  options: SelectBackendOptions = {},
): Promise<BackendSelection> {
  const tolerance = options.tolerance ?? 1e-3;
  const previous = currentBackend();
  const skipped: SkippedBackend[] = [];
  let reference: SelfCheckValues | undefined;

  for (const backend of preferred) {
    const failure = await activate(backend, options);
    if (failure !== undefined) {
      skipped.push({ backend, reason: failure });
      continue;
    }
    try {
      if (reference === undefined) {
        // The cpu backend is the reference; computed once, then back to the candidate.
        reference = await cpuReference();
        await tf.setBackend(backend);
      }
      const got = await selfCheck();
      const mismatch = compare(got, reference, tolerance);
      if (mismatch !== undefined) {
        skipped.push({ backend, reason: `self-check mismatch against cpu: ${mismatch}` });
        continue;
      }
    } catch (err) {
      skipped.push({ backend, reason: `self-check failed: ${messageOf(err)}` });
      continue;
    }
    return { backend, skipped };
  }

  if (previous !== undefined && tf.engine().registry[previous] !== undefined) await tf.setBackend(previous);
  throw new NoUsableBackendError(skipped);
}

/**
 * Whether `backend` can train convolutional layers: it needs the gradient
 * kernels of Conv2D. The wasm backend (4.x) lacks Conv2DBackpropFilter, so
 * it can run conv nets but not train them; dense models train fine on it.
 */
export function backendCanTrainConv(backend: string): boolean {
  return (
    tf.getKernel('Conv2DBackpropFilter', backend) !== undefined &&
    tf.getKernel('Conv2DBackpropInput', backend) !== undefined
  );
}

function currentBackend(): string | undefined {
  // tf.getBackend() would initialise the best backend as a side effect when none is set yet.
  const name: string | null = tf.engine().backendName;
  return name ?? undefined;
}

/** Registers/initialises and activates `backend`; returns why it cannot be used, or undefined. */
async function activate(backend: string, options: SelectBackendOptions): Promise<string | undefined> {
  const engine = tf.engine();
  const entry = engine.registryFactory[backend];
  if (entry === undefined) return notRegisteredReason(backend);

  if (engine.registry[backend] !== undefined) {
    // Already initialised earlier: switching is immediate.
    return (await tf.setBackend(backend)) ? undefined : `initialisation failed`;
  }

  if (backend === 'wasm' && options.wasmPaths !== undefined) {
    try {
      setWasmPaths(options.wasmPaths as Parameters<typeof setWasmPaths>[0]);
    } catch (err) {
      return `setWasmPaths failed: ${messageOf(err)}`;
    }
  }

  // tf.setBackend only logs why an initialisation failed; wrap the factory for
  // the duration of the call to keep the error for the reason.
  let initError: unknown;
  const factory = entry.factory;
  entry.factory = () => {
    try {
      const made = factory();
      if (made instanceof Promise) {
        return made.catch((err: unknown) => {
          initError = err;
          throw err;
        });
      }
      return made;
    } catch (err) {
      initError = err;
      throw err;
    }
  };
  try {
    const ok = await tf.setBackend(backend);
    if (!ok) return `initialisation failed: ${initError === undefined ? 'unknown error' : messageOf(initError)}`;
    return undefined;
  } catch (err) {
    return `initialisation failed: ${messageOf(err)}`;
  } finally {
    entry.factory = factory;
  }
}

function notRegisteredReason(backend: string): string {
  const g = globalThis as { navigator?: { gpu?: unknown }; document?: unknown };
  if (backend === 'webgpu' && g.navigator?.gpu === undefined) {
    return 'not registered: WebGPU is not available here (no navigator.gpu)';
  }
  if (backend === 'webgl' && g.document === undefined) {
    return 'not registered: WebGL needs a browser page (no document, so no WebGL context)';
  }
  const known = Object.keys(tf.engine().registryFactory).join(', ');
  return `not registered: no backend named '${backend}' (registered: ${known})`;
}

interface SelfCheckValues {
  readonly product: Float32Array;
  readonly gradient: Float32Array;
}

// Fixed inputs with mixed signs and magnitudes; small enough to run in
// microseconds, big enough to exercise a real matmul kernel.
const X = [
  [0.5, -1.25, 2.0, 0.75],
  [-0.3, 0.9, -1.6, 1.1],
  [1.7, 0.2, -0.45, -2.2],
];
const W = [
  [0.8, -0.6],
  [-1.1, 0.35],
  [0.25, 1.4],
  [-0.7, -0.15],
];

/** xW, and the gradient of sum((xW)²) with respect to W (= 2·xᵀ·xW), on the active backend. */
async function selfCheck(): Promise<SelfCheckValues> {
  const [product, gradient] = tf.tidy(() => {
    const x = tf.tensor2d(X);
    const w = tf.tensor2d(W);
    const y = tf.matMul(x, w);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, v))))(w);
    return [y, g];
  });
  try {
    return {
      product: Float32Array.from(await product.data()),
      gradient: Float32Array.from(await gradient.data()),
    };
  } finally {
    product.dispose();
    gradient.dispose();
  }
}

async function cpuReference(): Promise<SelfCheckValues> {
  await tf.setBackend('cpu');
  return selfCheck();
}

/** The first value out of tolerance, described; undefined when all agree. */
function compare(got: SelfCheckValues, want: SelfCheckValues, tolerance: number): string | undefined {
  for (const key of ['product', 'gradient'] as const) {
    const a = got[key];
    const b = want[key];
    let scale = 0;
    for (const v of b) scale = Math.max(scale, Math.abs(v));
    for (let i = 0; i < b.length; i++) {
      const x = a[i] as number;
      const y = b[i] as number;
      if (!(Math.abs(x - y) <= tolerance * scale)) {
        return `${key}[${i}] = ${x}, cpu ${y} (tolerance ${tolerance} × ${scale})`;
      }
    }
  }
  return undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
