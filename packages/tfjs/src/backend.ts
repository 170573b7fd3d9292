/**
 * Backend selection: the TensorFlow.js backend that trains the app's model
 * fastest here and computes right (docs/architecture.md §2).
 *
 * Each preferred backend is tried. One is skipped, with the reason, when it
 * is not registered (webgpu registers only where `navigator.gpu` exists,
 * webgl only in a browser), when it fails to initialise (no adapter, no
 * WebGL context, the .wasm file not found), or when a small self-check — a
 * matmul and a gradient — disagrees with the cpu backend. A backend that
 * initialises but computes wrong (float16 textures on some mobile GPUs,
 * driver bugs) would silently corrupt every local model; the self-check
 * catches that before training starts.
 *
 * A GPU backend whose device says it is a software one (a WebGPU fallback
 * adapter, SwiftShader behind WebGPU or WebGL) is set aside: it is used only
 * when no other backend passes. Such a device is the GPU a machine without
 * one gets, and it trains far slower than the wasm backend.
 *
 * With a `trial` (a short training step of the app's own model), every
 * backend that passes is timed on it and the fastest stays active; the
 * choice is remembered per device (localStorage in a browser), keyed by the
 * user agent and the model's signature, so it is measured again only when
 * the browser or the model changes. Without a trial the first that passes,
 * in the preferred order, stays active.
 *
 * Importing this module registers the wasm and webgpu backends (webgl and
 * cpu come with @tensorflow/tfjs).
 */

import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-webgpu';
import { CHOICE_KEY_PREFIX } from './choice-key.ts';

/** The backends `selectBackend` tries by default (in this order when there is no trial). */
export const DEFAULT_BACKENDS: readonly string[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

export interface SkippedBackend {
  readonly backend: string;
  readonly reason: string;
}

/** How long one training step of the trial took on a backend. */
export interface BackendTiming {
  readonly backend: string;
  /** Mean time of the timed steps (after one untimed warm-up step), in milliseconds. */
  readonly msPerStep: number;
  /** Timed steps: fewer than the trial's when the backend was already slower than the fastest so far. */
  readonly steps: number;
  /** The device behind a GPU backend, in its own words (adapter or renderer), when it says. */
  readonly device?: string;
  /** Whether that device says it is a software one. */
  readonly software?: boolean;
}

export interface BackendSelection {
  /** The backend now active (`tf.getBackend()`). */
  readonly backend: string;
  /** The preferred backends not taken, each with why (a slower one: its timing says). */
  readonly skipped: readonly SkippedBackend[];
  /**
   * The trial's timing on each backend timed, fastest first: measured now, or (remembered)
   * those of the measurement that made the choice; empty without a trial.
   */
  readonly timings: readonly BackendTiming[];
  /**
   * 'measured': timed now; 'remembered': the choice an earlier measurement on this device saved,
   * still passing its self-check; 'first': no trial, the first that passed.
   */
  readonly source: 'measured' | 'remembered' | 'first';
}

/**
 * A short training step of the app's model, for timing backends. `prepare` runs with the
 * candidate backend active: it builds the model and a batch there and returns the step.
 */
export interface TrainingTrial {
  /**
   * What is trained, for the remembered choice: another signature is measured afresh. A
   * function is called once, with the cpu backend active.
   */
  readonly signature: string | (() => string);
  prepare(): TrialStep | Promise<TrialStep>;
  /** Timed steps per backend, after one untimed warm-up step (default 5). */
  readonly steps?: number;
}

export interface TrialStep {
  /** One training step; resolves when the backend has finished it. */
  run(): unknown;
  /** Frees what `prepare` made. */
  dispose(): void;
}

/** What a GPU backend's device says of itself. */
export interface DeviceReport {
  /** A fallback adapter or a software renderer (SwiftShader, llvmpipe …). */
  readonly software: boolean;
  /** Its own description (vendor, architecture, renderer). */
  readonly description: string;
}

/** Where a measured choice is kept: `localStorage` by default, or anything with its two methods. */
export interface ChoiceStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
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
  /** Times each backend that passes on this step and keeps the fastest (module comment). */
  readonly trial?: TrainingTrial;
  /**
   * Where a measured choice is remembered: default `globalThis.localStorage` where there is
   * one; null remembers nothing. Only used with a trial.
   */
  readonly store?: ChoiceStore | null;
  /** Part of the remembered choice's key: default `navigator.userAgent` (in Node, its version). */
  readonly userAgent?: string;
  /**
   * What the device behind an initialised backend says of itself; undefined when there is no
   * such device. Default: the WebGPU adapter's info and the WebGL renderer string.
   */
  readonly describeDevice?: (backend: string) => DeviceReport | undefined | Promise<DeviceReport | undefined>;
  /** The trial's clock in milliseconds (default `performance.now`). */
  readonly now?: () => number;
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

const DEFAULT_TRIAL_STEPS = 5;

/** A backend that initialised and passed the self-check. */
interface Candidate {
  readonly backend: string;
  readonly device: DeviceReport | undefined;
}

/**
 * Picks the backend (module comment) among `preferred` and leaves it active. Throws
 * NoUsableBackendError when none passes (the backend active before is then restored where
 * possible).
 */
export async function selectBackend(
  preferred: readonly string[] = DEFAULT_BACKENDS,
  options: SelectBackendOptions = {},
): Promise<BackendSelection> {
  const previous = currentBackend();
  const skipped: SkippedBackend[] = [];
  const checker = new Checker(options);
  const { trial } = options;

  let memory: Memory | undefined;
  if (trial !== undefined) {
    memory = await Memory.open(trial, preferred, options, checker);
    const remembered = memory?.recall();
    if (remembered !== undefined) {
      const failure = await checker.check(remembered.backend);
      if (typeof failure !== 'string') {
        const others = preferred.filter((b) => b !== remembered.backend);
        const reason = `not tried: ${remembered.backend} was measured fastest here (${new Date(remembered.at).toISOString()})`;
        for (const backend of others) skipped.push({ backend, reason });
        await tf.setBackend(remembered.backend);
        return { backend: remembered.backend, skipped, timings: remembered.timings, source: 'remembered' };
      }
      // The remembered backend no longer works here: measure afresh (and remember that).
    }
  }

  const candidates: Candidate[] = [];
  const software: Candidate[] = [];
  for (const backend of preferred) {
    const result = await checker.check(backend);
    if (typeof result === 'string') {
      skipped.push({ backend, reason: result });
      continue;
    }
    if (result.device?.software) {
      software.push(result);
      continue;
    }
    if (trial === undefined) {
      // No trial: the first that passes, in the preferred order.
      for (const s of software) skipped.push({ backend: s.backend, reason: softwareReason(s) });
      await tf.setBackend(backend);
      return { backend, skipped: ordered(skipped, preferred), timings: [], source: 'first' };
    }
    candidates.push(result);
  }
  // Software devices only when nothing else passed.
  const pool = candidates.length > 0 ? candidates : software;
  if (candidates.length > 0) for (const s of software) skipped.push({ backend: s.backend, reason: softwareReason(s) });

  if (trial === undefined) {
    const first = pool[0];
    if (first !== undefined) {
      await tf.setBackend(first.backend);
      return { backend: first.backend, skipped: ordered(skipped, preferred), timings: [], source: 'first' };
    }
  } else {
    const timings: BackendTiming[] = [];
    for (const candidate of pool) {
      const best = timings.length === 0 ? undefined : fastest(timings);
      const timed = await timeTrial(candidate, trial, options.now ?? defaultNow, best);
      if (typeof timed === 'string') skipped.push({ backend: candidate.backend, reason: timed });
      else timings.push(timed);
    }
    if (timings.length > 0) {
      timings.sort((a, b) => a.msPerStep - b.msPerStep);
      const [winner, ...slower] = timings as [BackendTiming, ...BackendTiming[]];
      for (const t of slower) {
        skipped.push({
          backend: t.backend,
          reason: `slower: ${formatMs(t.msPerStep)} per training step, ${winner.backend} ${formatMs(winner.msPerStep)}`,
        });
      }
      await tf.setBackend(winner.backend);
      memory?.remember(winner.backend, timings);
      return { backend: winner.backend, skipped: ordered(skipped, preferred), timings, source: 'measured' };
    }
  }

  if (previous !== undefined && tf.engine().registry[previous] !== undefined) await tf.setBackend(previous);
  throw new NoUsableBackendError(ordered(skipped, preferred));
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

/**
 * A trial from the app's model: `build` makes a fresh compiled model (and optimizer: both are
 * disposed after) on the backend being timed,
 * and a step is one `trainOnBatch` on a batch of `batchSize` random inputs and targets (one-hot
 * where an output has several units).
 * The signature names the layers, their output shapes, the weight count, the optimizer, the
 * loss, the batch size and the TensorFlow.js version.
 */
export function layersModelTrial(
  build: () => tf.LayersModel,
  options: { readonly batchSize: number; readonly steps?: number },
): TrainingTrial {
  const { batchSize } = options;
  return {
    ...(options.steps === undefined ? {} : { steps: options.steps }),
    signature: () => {
      const model = build();
      try {
        return `${modelSignature(model)};batch ${batchSize};tfjs ${tf.version.tfjs}`;
      } finally {
        disposeModel(model);
      }
    },
    prepare: () => {
      const model = build();
      const [xs, ys] = tf.tidy(() => [
        model.inputs.map((input) => tf.randomUniform([batchSize, ...input.shape.slice(1).map((d) => d ?? 1)])),
        model.outputs.map((output) => {
          const shape = [batchSize, ...output.shape.slice(1).map((d) => d ?? 1)];
          const classes = shape[shape.length - 1] as number;
          if (classes < 2) return tf.randomUniform(shape);
          const labels = tf.randomUniform(shape.slice(0, -1), 0, classes, 'int32');
          return tf.oneHot(labels, classes).reshape(shape).toFloat();
        }),
      ]);
      return {
        run: () => model.trainOnBatch(xs, ys),
        dispose: () => {
          tf.dispose([...xs, ...ys]);
          disposeModel(model);
        },
      };
    },
  };
}

/** The model and its optimizer (model.dispose() leaves an optimizer it was given). */
function disposeModel(model: tf.LayersModel): void {
  const { optimizer } = model;
  model.dispose();
  optimizer?.dispose();
}

/** The layers (class and output shape), the weight count, the optimizer and the loss of a compiled model. */
export function modelSignature(model: tf.LayersModel): string {
  const layers = model.layers.map((l) => `${l.getClassName()}${JSON.stringify(l.outputShape)}`).join(',');
  const optimizer = model.optimizer?.getClassName() ?? 'none';
  const loss = typeof model.loss === 'string' || Array.isArray(model.loss) ? String(model.loss) : 'custom';
  return `${layers};${model.countParams()} weights;${optimizer};${loss}`;
}

/** The choice remembered for one trial on this device (the store entry). */
interface RememberedChoice {
  readonly userAgent: string;
  readonly signature: string;
  /** The backends measured among (the preferred list, sorted). */
  readonly among: readonly string[];
  readonly backend: string;
  readonly timings: readonly BackendTiming[];
  /** When it was measured, ms since the epoch. */
  readonly at: number;
}

class Memory {
  readonly #store: ChoiceStore;
  readonly #key: string;
  readonly #entry: Omit<RememberedChoice, 'backend' | 'timings' | 'at'>;

  private constructor(store: ChoiceStore, key: string, entry: Omit<RememberedChoice, 'backend' | 'timings' | 'at'>) {
    this.#store = store;
    this.#key = key;
    this.#entry = entry;
  }

  /** The trial's memory on this device, or undefined when there is no store. */
  static async open(
    trial: TrainingTrial,
    preferred: readonly string[],
    options: SelectBackendOptions,
    checker: Checker,
  ): Promise<Memory | undefined> {
    const store = options.store === undefined ? defaultStore() : options.store;
    if (store === null) return undefined;
    let signature: string;
    if (typeof trial.signature === 'string') signature = trial.signature;
    else {
      await checker.reference(); // leaves cpu active
      signature = trial.signature();
    }
    const userAgent = options.userAgent ?? defaultUserAgent();
    const among = [...new Set(preferred)].sort();
    return new Memory(store, `${CHOICE_KEY_PREFIX}${fnv1a(signature)}`, { userAgent, signature, among });
  }

  /** The remembered choice, when it was measured by this browser, for this model, among these backends. */
  recall(): RememberedChoice | undefined {
    let saved: Partial<RememberedChoice>;
    try {
      saved = JSON.parse(this.#store.getItem(this.#key) ?? 'null') ?? {};
    } catch {
      return undefined; // unreadable: measure afresh
    }
    const want = this.#entry;
    if (
      saved.userAgent !== want.userAgent ||
      saved.signature !== want.signature ||
      JSON.stringify(saved.among) !== JSON.stringify(want.among) ||
      typeof saved.backend !== 'string' ||
      !want.among.includes(saved.backend) ||
      !Array.isArray(saved.timings)
    ) {
      return undefined;
    }
    return saved as RememberedChoice;
  }

  remember(backend: string, timings: readonly BackendTiming[]): void {
    const entry: RememberedChoice = { ...this.#entry, backend, timings, at: Date.now() };
    try {
      this.#store.setItem(this.#key, JSON.stringify(entry));
    } catch {
      // storage full or refused: measured again next time
    }
  }
}

/** Activates backends and runs the self-check against the cpu reference (computed once). */
class Checker {
  readonly #options: SelectBackendOptions;
  #reference: SelfCheckValues | undefined;

  constructor(options: SelectBackendOptions) {
    this.#options = options;
  }

  /** The cpu backend's self-check values; leaves cpu active. */
  async reference(): Promise<SelfCheckValues> {
    await tf.setBackend('cpu');
    this.#reference ??= await selfCheck();
    return this.#reference;
  }

  /** Activates `backend` and checks it: why it cannot be used, or what it runs on (left active). */
  async check(backend: string): Promise<string | Candidate> {
    const failure = await activate(backend, this.#options);
    if (failure !== undefined) return failure;
    try {
      if (this.#reference === undefined) {
        // The cpu backend is the reference; computed once, then back to the candidate.
        await this.reference();
        await tf.setBackend(backend);
      }
      const got = await selfCheck();
      const mismatch = compare(got, this.#reference as SelfCheckValues, this.#options.tolerance ?? 1e-3);
      if (mismatch !== undefined) return `self-check mismatch against cpu: ${mismatch}`;
    } catch (err) {
      return `self-check failed: ${messageOf(err)}`;
    }
    let device: DeviceReport | undefined;
    try {
      device = await (this.#options.describeDevice ?? describeDevice)(backend);
    } catch {
      device = undefined; // it does not say
    }
    return { backend, device };
  }
}

/** Times `trial` on `candidate` (activated here); why it failed, as a string, when it did. */
async function timeTrial(
  candidate: Candidate,
  trial: TrainingTrial,
  now: () => number,
  best: BackendTiming | undefined,
): Promise<BackendTiming | string> {
  const { backend, device } = candidate;
  const steps = Math.max(1, trial.steps ?? DEFAULT_TRIAL_STEPS);
  await tf.setBackend(backend);
  let step: TrialStep;
  try {
    step = await trial.prepare();
  } catch (err) {
    return `trial failed: ${messageOf(err)}`;
  }
  try {
    await step.run(); // warm-up: kernels compiled, memory allocated
    const started = now();
    let done = 0;
    while (done < steps) {
      await step.run();
      done++;
      // Already slower than the fastest over its whole trial: no need to go on.
      if (best !== undefined && now() - started > best.msPerStep * steps) break;
    }
    const msPerStep = (now() - started) / done;
    return {
      backend,
      msPerStep,
      steps: done,
      ...(device === undefined ? {} : { device: device.description, software: device.software }),
    };
  } catch (err) {
    return `trial failed: ${messageOf(err)}`;
  } finally {
    try {
      step.dispose();
    } catch {
      // what it made goes when the backend goes
    }
  }
}

function fastest(timings: readonly BackendTiming[]): BackendTiming {
  return timings.reduce((a, b) => (b.msPerStep < a.msPerStep ? b : a));
}

function softwareReason(candidate: Candidate): string {
  return `software device (${candidate.device?.description ?? 'unknown'}): used only when no other backend passes`;
}

/** `skipped` in the order of `preferred`. */
function ordered(skipped: readonly SkippedBackend[], preferred: readonly string[]): SkippedBackend[] {
  return [...skipped].sort((a, b) => preferred.indexOf(a.backend) - preferred.indexOf(b.backend));
}

function formatMs(ms: number): string {
  return `${ms < 10 ? ms.toFixed(2) : ms.toFixed(1)} ms`;
}

function defaultNow(): number {
  return performance.now();
}

function defaultStore(): ChoiceStore | null {
  try {
    const store = (globalThis as { localStorage?: ChoiceStore }).localStorage;
    return store ?? null;
  } catch {
    return null; // access refused (an opaque origin)
  }
}

function defaultUserAgent(): string {
  const g = globalThis as { navigator?: { userAgent?: string }; process?: { version?: string } };
  return g.navigator?.userAgent ?? `node ${g.process?.version ?? '?'}`;
}

/** 32-bit FNV-1a of the UTF-16 code units, as 8 hex digits. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

const SOFTWARE_RENDERER = /swiftshader|llvmpipe|lavapipe|softpipe|software/i;

/** The default `describeDevice`: the WebGPU adapter's info, the WebGL renderer string. */
async function describeDevice(backend: string): Promise<DeviceReport | undefined> {
  if (backend === 'webgpu') {
    interface AdapterInfo {
      readonly vendor?: string;
      readonly architecture?: string;
      readonly description?: string;
      readonly isFallbackAdapter?: boolean;
    }
    interface Adapter {
      readonly info?: AdapterInfo;
      readonly isFallbackAdapter?: boolean;
    }
    const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(o?: object): Promise<Adapter | null> } } })
      .navigator?.gpu;
    // The adapter tfjs asked for (tfjs-backend-webgpu's factory): the same power preference.
    const powerPreference = tf.env().getBool('WEBGPU_USE_LOW_POWER_GPU') ? 'low-power' : 'high-performance';
    const adapter = await gpu?.requestAdapter({ powerPreference });
    if (adapter === undefined || adapter === null) return undefined;
    const info = adapter.info ?? {};
    const description = [info.vendor, info.architecture, info.description].filter((s) => s).join(' ') || 'unnamed';
    const fallback = info.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false;
    return {
      software: fallback || SOFTWARE_RENDERER.test(description),
      description: fallback ? `${description}, fallback adapter` : description,
    };
  }
  if (backend === 'webgl') {
    const gl = (tf.backend() as { gpgpu?: { gl?: WebGLRenderingContext } }).gpgpu?.gl;
    if (gl === undefined) return undefined;
    const debug = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = String(gl.getParameter(debug === null ? gl.RENDERER : debug.UNMASKED_RENDERER_WEBGL));
    return { software: SOFTWARE_RENDERER.test(renderer), description: renderer };
  }
  return undefined;
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
