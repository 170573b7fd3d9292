/**
 * The vector layout of a training run (docs/learning.md §2): what the entries of the masked
 * vector mean, beyond "a model". Secure aggregation only ever reveals the scalar-weighted
 * average of the participants' vectors (protocol.md §4.6), so everything a run needs to learn
 * from its participants — the model update, SCAFFOLD's control-variate delta, evaluation
 * metrics — travels side by side in one vector, masked once:
 *
 * ```text
 * masked vector (length = maskedLength(layout) = the round's modelLength)
 *   [0, P)          the model (send = "model") or the update: local − global (send = "update")
 *   [P, 2P)         the control-variate delta c⁺ᵢ − cᵢ            (controlVariates only)
 *   [k]             the evaluation weight  nᵢ / (sᵢ·N)            (metrics only; k = P or 2P)
 *   [k+1, k+1+M)    metric j:              nᵢ·mᵢⱼ / (sᵢ·N)         (metrics only)
 *   [last]          the clip bit β·C·(bᵢ − ½), set by the SDK       (adaptiveClipping only)
 *
 * global model (GET /model; length = globalLength(layout))
 *   [0, P)          the model x
 *   [P, 2P)         the server control variate c                 (controlVariates only)
 * ```
 *
 * P is `modelLength`, N `maxExamples`, nᵢ the participant's evaluation examples (clamped to
 * [0, N]), sᵢ its scalar and mᵢⱼ its mean of metric j over them. The masker multiplies by sᵢ,
 * so the coordinator unmasks avg_k = Σ nᵢ/N / Σ sᵢ and avg_{k+1+j} = Σ nᵢmᵢⱼ/N / Σ sᵢ, and
 * their quotient is the example-weighted mean Σ nᵢmᵢⱼ / Σ nᵢ whatever the scalars were; what
 * the mask range bounds is sᵢ·entry = nᵢmᵢⱼ/N, i.e. |mᵢⱼ| ≤ A (protocol.md §4.5).
 */

import { PetError } from '../errors.ts';

/** What a run's participants put in the first P entries of the masked vector. */
export type SendKind = 'model' | 'update';

/** A training run's vector layout: declared by the run, served at `GET /run`. Plain data. */
export interface VectorLayout {
  /** P: the model's number of weights. */
  readonly modelLength: number;
  /** "update": local model − the global model it started from; "model": the local model. */
  readonly send: SendKind;
  /** SCAFFOLD: P entries of control-variate delta follow the update; the global model carries c. */
  readonly controlVariates: boolean;
  /** The metrics participants report (each a mean over their evaluation examples); [] for none. */
  readonly metrics: readonly string[];
  /** N: evaluation examples count up to N and are scaled by 1/N to stay within the mask range. */
  readonly maxExamples: number;
  /**
   * Differential privacy (docs/learning.md §7): every participant clips its update to this L2
   * norm before masking, which bounds what one participant can change in the sum. Absent: no clipping.
   */
  readonly clipNorm?: number;
  /**
   * Adaptive clipping (docs/privacy.md §2): one last entry carries each participant's "norm ≤ C"
   * bit, which the SDK fills from the round's promise; C then moves toward a target quantile.
   */
  readonly adaptiveClipping?: boolean;
}

/** One participant's evaluation of the global model it started from. */
export interface Evaluation {
  /** nᵢ: how many examples the metrics are means over (clamped to [0, maxExamples]). */
  readonly examples: number;
  /** mᵢⱼ by name: every metric of the layout, each a finite mean over the examples. */
  readonly metrics: Readonly<Record<string, number>>;
}

/** What one participant contributes to a round, before masking. */
export interface Contribution {
  /** The local model or the update (per `layout.send`), P entries. */
  readonly model: ArrayLike<number>;
  /** c⁺ᵢ − cᵢ, P entries; required when the layout has control variates. */
  readonly controlDelta?: ArrayLike<number>;
  /** Required when the layout has metrics; null when the participant has nothing to evaluate on. */
  readonly evaluation?: Evaluation | null;
}

/** The federated result of a round's metrics: example-weighted means, or null when nobody evaluated. */
export interface FederatedMetrics {
  /** Σ nᵢ / (N · Σ sᵢ): > 0 when anyone evaluated. */
  readonly weight: number;
  readonly values: Readonly<Record<string, number>> | null;
}

/** The longest metric name and the most metrics a layout may declare. */
export const MAX_METRIC_NAME = 64;
export const MAX_METRICS = 4096;
const METRIC_NAME = /^[A-Za-z_][A-Za-z0-9_.:-]*$/;

function bad(message: string): PetError {
  return new PetError('invalid-field', `vector layout: ${message}`);
}

/** Where the evaluation entries start: P, or 2P with control variates. */
function evaluationOffset(layout: VectorLayout): number {
  return layout.controlVariates ? 2 * layout.modelLength : layout.modelLength;
}

/** The round's modelLength for this layout: P, + P with control variates, + 1 + M with metrics. */
export function maskedLength(layout: VectorLayout): number {
  return (
    evaluationOffset(layout) +
    (layout.metrics.length > 0 ? 1 + layout.metrics.length : 0) +
    (layout.adaptiveClipping === true ? 1 : 0)
  );
}

/** The served global model's length: P, or 2P with control variates. */
export function globalLength(layout: VectorLayout): number {
  return layout.controlVariates ? 2 * layout.modelLength : layout.modelLength;
}

/**
 * Checks a layout read from outside (settings, `GET /run`) and returns it as a fresh plain object.
 * Throws `invalid-field` naming the first problem.
 */
export function validateVectorLayout(value: unknown): VectorLayout {
  if (typeof value !== 'object' || value === null) throw bad(`expected an object, got ${typeof value}`);
  const input = value as Record<string, unknown>;
  const { modelLength, send, controlVariates, metrics, maxExamples } = input;
  if (typeof modelLength !== 'number' || !Number.isSafeInteger(modelLength) || modelLength < 1) {
    throw bad(`modelLength: expected an integer ≥ 1, got ${String(modelLength)}`);
  }
  if (send !== 'model' && send !== 'update') throw bad(`send: expected "model" or "update", got ${String(send)}`);
  if (typeof controlVariates !== 'boolean')
    throw bad(`controlVariates: expected a boolean, got ${String(controlVariates)}`);
  if (controlVariates && send !== 'update') throw bad('controlVariates: SCAFFOLD needs send = "update"');
  if (!Array.isArray(metrics)) throw bad('metrics: expected a list of names');
  if (metrics.length > MAX_METRICS) throw bad(`metrics: at most ${MAX_METRICS}, got ${metrics.length}`);
  const seen = new Set<string>();
  for (const name of metrics) {
    if (typeof name !== 'string' || name.length > MAX_METRIC_NAME || !METRIC_NAME.test(name)) {
      throw bad(
        `metrics: expected names of letters, digits and _.:- (at most ${MAX_METRIC_NAME}), got ${String(name)}`,
      );
    }
    if (seen.has(name)) throw bad(`metrics: "${name}" is named twice`);
    seen.add(name);
  }
  if (typeof maxExamples !== 'number' || !Number.isSafeInteger(maxExamples) || maxExamples < 1) {
    throw bad(`maxExamples: expected an integer ≥ 1, got ${String(maxExamples)}`);
  }
  const { clipNorm } = input;
  if (clipNorm !== undefined) {
    if (typeof clipNorm !== 'number' || !Number.isFinite(clipNorm) || clipNorm <= 0) {
      throw bad(`clipNorm: expected a finite number > 0, got ${String(clipNorm)}`);
    }
    if (send !== 'update') throw bad('clipNorm: clipping needs send = "update"');
  }
  const { adaptiveClipping } = input;
  if (adaptiveClipping !== undefined && typeof adaptiveClipping !== 'boolean') {
    throw bad(`adaptiveClipping: expected a boolean, got ${String(adaptiveClipping)}`);
  }
  if (adaptiveClipping === true && clipNorm === undefined) throw bad('adaptiveClipping: needs a clipNorm');
  const layout: VectorLayout = {
    modelLength,
    send,
    controlVariates,
    metrics: [...metrics],
    maxExamples,
    ...(clipNorm === undefined ? {} : { clipNorm }),
    ...(adaptiveClipping === true ? { adaptiveClipping } : {}),
  };
  if (maskedLength(layout) > 2 ** 32 - 1) throw bad(`the masked vector would have ${maskedLength(layout)} entries`);
  return layout;
}

function checkLength(what: string, values: ArrayLike<number> | undefined, expected: number): ArrayLike<number> {
  if (values === undefined) throw bad(`${what}: expected ${expected} values, got none`);
  if (values.length !== expected) throw bad(`${what}: expected ${expected} values, got ${values.length}`);
  return values;
}

/**
 * The vector a participant masks (with its scalar `scalar`, the one it masks with): the layout's
 * entries in order. The evaluation entries are divided by the scalar so that what is masked,
 * scalar · entry, is nᵢmᵢⱼ/N; a participant with scalar 0 contributes nothing, evaluation included.
 */
export function encodeContribution(layout: VectorLayout, contribution: Contribution, scalar: number): Float64Array {
  if (!Number.isFinite(scalar) || scalar < 0) throw bad(`scalar: expected a finite number ≥ 0, got ${scalar}`);
  const P = layout.modelLength;
  const out = new Float64Array(maskedLength(layout));
  const model = checkLength('model', contribution.model, P);
  for (let i = 0; i < P; i++) out[i] = model[i] as number;
  // With adaptive clipping the round's C moves: the SDK clips to it and sets the bit (`applyClipBit`).
  if (layout.clipNorm !== undefined && layout.adaptiveClipping !== true) clipL2(out.subarray(0, P), layout.clipNorm);
  if (layout.controlVariates) {
    const delta = checkLength('controlDelta', contribution.controlDelta, P);
    for (let i = 0; i < P; i++) out[P + i] = delta[i] as number;
  } else if (contribution.controlDelta !== undefined) {
    throw bad('controlDelta: the layout has no control variates');
  }
  if (layout.metrics.length === 0) {
    if (contribution.evaluation !== undefined && contribution.evaluation !== null) {
      throw bad('evaluation: the layout declares no metrics');
    }
    return out;
  }
  const evaluation = contribution.evaluation;
  if (evaluation === undefined) throw bad('evaluation: the layout declares metrics; pass an evaluation or null');
  if (evaluation === null || scalar === 0) return out;
  const { examples, metrics } = evaluation;
  if (!Number.isFinite(examples) || examples < 0) {
    throw bad(`evaluation.examples: expected a finite number ≥ 0, got ${examples}`);
  }
  const k = evaluationOffset(layout);
  const n = Math.min(examples, layout.maxExamples);
  const weight = n / (scalar * layout.maxExamples);
  out[k] = weight;
  layout.metrics.forEach((name, j) => {
    const value = metrics[name];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw bad(`evaluation.metrics.${name}: expected a finite number, got ${String(value)}`);
    }
    out[k + 1 + j] = weight * value;
  });
  for (const name of Object.keys(metrics)) {
    if (!layout.metrics.includes(name)) throw bad(`evaluation.metrics.${name}: not a metric of the layout`);
  }
  return out;
}

/**
 * Scales `values` in place so that their L2 norm is at most `bound` (unchanged when it already
 * is); returns the norm before clipping. A non-finite entry is refused: it has no norm to clip.
 */
export function clipL2(values: Float64Array, bound: number): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isFinite(v)) throw bad(`model: entry ${i} is ${v}`);
    sum += v * v;
  }
  const norm = Math.sqrt(sum);
  if (norm > bound) {
    const scale = bound / norm;
    for (let i = 0; i < values.length; i++) values[i] = (values[i] as number) * scale;
  }
  return norm;
}

/** The unmasked average of a round, split by the layout: views into `average`, no copies. */
export interface SplitAverage {
  /** The average model or update (P entries). */
  readonly model: Float64Array;
  /** The average control-variate delta (P entries), when the layout has control variates. */
  readonly controlDelta: Float64Array | undefined;
  /** The federated metrics, when the layout declares any. */
  readonly metrics: FederatedMetrics | undefined;
}

export function splitAverage(layout: VectorLayout, average: Float64Array): SplitAverage {
  checkLength('average', average, maskedLength(layout));
  const P = layout.modelLength;
  const model = average.subarray(0, P);
  const controlDelta = layout.controlVariates ? average.subarray(P, 2 * P) : undefined;
  if (layout.metrics.length === 0) return { model, controlDelta, metrics: undefined };
  const k = evaluationOffset(layout);
  const weight = average[k] as number;
  // The unmasked weight is within n/E of its exact sum (protocol.md §4.6): nobody evaluated
  // when it is not clearly positive.
  if (!(weight > 1e-9)) return { model, controlDelta, metrics: { weight: 0, values: null } };
  const values: Record<string, number> = {};
  layout.metrics.forEach((name, j) => {
    values[name] = (average[k + 1 + j] as number) / weight;
  });
  return { model, controlDelta, metrics: { weight, values } };
}

/** A served global model split by the layout: views, no copies. */
export function splitGlobal(
  layout: VectorLayout,
  global: Float32Array | Float64Array,
): { readonly model: Float32Array | Float64Array; readonly control: Float32Array | Float64Array | undefined } {
  checkLength('global model', global, globalLength(layout));
  const P = layout.modelLength;
  return {
    model: global.subarray(0, P),
    control: layout.controlVariates ? global.subarray(P, 2 * P) : undefined,
  };
}
