/**
 * Mask configurations (protocol.md §4.1–4.2).
 *
 * A `MaskConfig` names a group (integer, prime or power2), a data type, a
 * bound and a model cap. From it follow the fixed-point parameters:
 *
 * - A, the add shift: models are clamped to [−A, A] (bound b0 = 1, b2 = 10²,
 *   b4 = 10⁴, b6 = 10⁶, bmax = the data type's largest magnitude); the integer
 *   types under bmax clamp to their two's-complement range [−A, A − 1] instead;
 * - E, the exp shift: values are scaled by E before flooring;
 * - N, the model cap: at most N = 10^k masked models may be aggregated;
 * - the group order: integer = (A + U)·E·N + 1 with U the upper clamp bound
 *   (2·A·E·N + 1 but for i32/i64 bmax), power2 = the smallest power of two ≥
 *   that, prime = a prime ≥ that (see prime-orders.ts).
 *
 * Every value of an aggregate lies in [0, (A + U)·E·N], so sums never wrap.
 */

import { type ByteReader, describe } from '../bytes.ts';
import { PetError } from '../errors.ts';
import { F64_BMAX_PRIMES, PRIME_OFFSETS } from './prime-orders.ts';

export const GROUP_TYPES = ['integer', 'prime', 'power2'] as const;
export const DATA_TYPES = ['f32', 'f64', 'i32', 'i64'] as const;
export const BOUND_TYPES = ['b0', 'b2', 'b4', 'b6', 'bmax'] as const;
export const MODEL_TYPES = ['m3', 'm6', 'm9', 'm12'] as const;

export type GroupType = (typeof GROUP_TYPES)[number];
export type DataType = (typeof DATA_TYPES)[number];
export type BoundType = (typeof BOUND_TYPES)[number];
export type ModelType = (typeof MODEL_TYPES)[number];

export interface MaskConfig {
  readonly group: GroupType;
  readonly data: DataType;
  readonly bound: BoundType;
  readonly model: ModelType;
}

/** Wire literals of the 4-byte config encoding (protocol.md §3.6); explicit, never ordinals. */
export const GROUP_WIRE: Readonly<Record<GroupType, number>> = { integer: 0, prime: 1, power2: 2 };
export const DATA_WIRE: Readonly<Record<DataType, number>> = { f32: 0, f64: 1, i32: 2, i64: 3 };
export const BOUND_WIRE: Readonly<Record<BoundType, number>> = { b0: 0, b2: 2, b4: 4, b6: 6, bmax: 255 };
export const MODEL_WIRE: Readonly<Record<ModelType, number>> = { m3: 3, m6: 6, m9: 9, m12: 12 };

/** Largest finite float32, as its shortest decimal 3.4028235e38 (the xaynet constant). */
const F32_MAX_DECIMAL = 340282350000000000000000000000000000000n;
/** Largest finite float64 as the decimal 1.7976931348623155e308 (the xaynet constant). */
const F64_MAX_DECIMAL = 17976931348623155n * 10n ** 292n;

const BOUNDED_A: Readonly<Record<Exclude<BoundType, 'bmax'>, bigint>> = {
  b0: 1n,
  b2: 100n,
  b4: 10_000n,
  b6: 1_000_000n,
};
const BMAX_A: Readonly<Record<DataType, bigint>> = {
  f32: F32_MAX_DECIMAL,
  f64: F64_MAX_DECIMAL,
  i32: 2n ** 31n,
  i64: 2n ** 63n,
};
const MODEL_CAP: Readonly<Record<ModelType, bigint>> = {
  m3: 10n ** 3n,
  m6: 10n ** 6n,
  m9: 10n ** 9n,
  m12: 10n ** 12n,
};

/** Orders below this use exact Float64 arithmetic: a sum of two elements stays below 2^53. */
export const FLOAT_PATH_LIMIT = 2n ** 52n;

/** Everything derived from a config; computed once per config and cached. */
export interface MaskParams {
  readonly config: MaskConfig;
  /** `group/data/bound/model`, e.g. `power2/f32/b2/m3`. */
  readonly name: string;
  readonly order: bigint;
  /** bit length of order − 1: every element fits in this many bits, its packed wire size (protocol.md §3.6). */
  readonly elementBits: number;
  /**
   * ceil(elementBits / 8): the keystream bytes one draw consumes (protocol.md §5.3), and the
   * wire size of a lone packed element (the scalar); a vector packs at elementBits bits.
   */
  readonly bytesPerNumber: number;
  /** A, the add shift; −A is the lower clamp bound. */
  readonly addShift: bigint;
  /** U, the upper clamp bound: A, or A − 1 for i32/i64 bmax (the type's maximum). */
  readonly upperBound: bigint;
  /** E, the fixed-point scale. */
  readonly expShift: bigint;
  /** N, the largest number of models an aggregate may hold. */
  readonly modelCap: bigint;
  /** A·E, the encoding of 0. */
  readonly shiftedZero: bigint;
  /** 'float': elements are exact doubles (order < 2^52); 'limbs': little-endian Uint32 limbs. */
  readonly arithmetic: 'float' | 'limbs';
  /** Uint32 limbs per element on the limbs path (1 on the float path, unused). */
  readonly limbs: number;
  /** The largest double ≤ A: values below its negation clamp to −A. */
  readonly boundAsDouble: number;
  /** The largest double ≤ U: values above it clamp to U. */
  readonly upperBoundAsDouble: number;
}

export function configName(config: MaskConfig): string {
  return `${config.group}/${config.data}/${config.bound}/${config.model}`;
}

export function bitLength(n: bigint): number {
  return n <= 0n ? 0 : n.toString(2).length;
}

/** The largest double that is ≤ x (x ≥ 0). */
function largestDoubleAtMost(x: bigint): number {
  let d = Number(x);
  if (!Number.isFinite(d) || BigInt(d) > x) {
    // Number() rounds to nearest; step down one ulp if that went above x.
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, Number.isFinite(d) ? d : Number.MAX_VALUE);
    if (Number.isFinite(d)) view.setBigUint64(0, view.getBigUint64(0) - 1n);
    d = view.getFloat64(0);
  }
  return d;
}

function computeOrder(config: MaskConfig, integerOrder: bigint): bigint {
  switch (config.group) {
    case 'integer':
      return integerOrder;
    case 'power2':
      return 1n << BigInt(bitLength(integerOrder - 1n));
    case 'prime': {
      if (config.data === 'f64' && config.bound === 'bmax') {
        return F64_BMAX_PRIMES[config.model] as bigint;
      }
      const offset = PRIME_OFFSETS[`${config.data}/${config.bound}/${config.model}`];
      if (offset === undefined) throw new Error(`no prime order for ${configName(config)}`);
      return integerOrder + BigInt(offset);
    }
    default:
      return assertNever(config.group);
  }
}

const cache = new Map<string, MaskParams>();

/** The derived parameters of a (validated) config. */
export function maskParams(config: MaskConfig): MaskParams {
  // Validate first: a non-object (null, a string) must fail as invalid-mask-config, not a TypeError.
  validateMaskConfig(config);
  const name = configName(config);
  const hit = cache.get(name);
  if (hit) return hit;
  const addShift = config.bound === 'bmax' ? BMAX_A[config.data] : BOUNDED_A[config.bound];
  const expShift =
    config.data === 'f64'
      ? 10n ** (config.bound === 'bmax' ? 324n : 20n)
      : config.data === 'f32' && config.bound === 'bmax'
        ? 10n ** 45n
        : 10n ** 10n;
  const modelCap = MODEL_CAP[config.model];
  // Integer types are two's complement: i32 spans [−2^31, 2^31 − 1]. The reference orders
  // (xaynet's, test-data/mask-orders.json) are (2^32 − 1)·E·N + 1 for i32/bmax, so
  // the upper clamp must be A − 1 there, or N values at the top would wrap the group.
  const upperBound =
    config.bound === 'bmax' && (config.data === 'i32' || config.data === 'i64') ? addShift - 1n : addShift;
  const integerOrder = (addShift + upperBound) * expShift * modelCap + 1n;
  const order = computeOrder(config, integerOrder);
  const elementBits = bitLength(order - 1n);
  const params: MaskParams = Object.freeze({
    config: Object.freeze({ group: config.group, data: config.data, bound: config.bound, model: config.model }),
    name,
    order,
    elementBits,
    bytesPerNumber: Math.ceil(elementBits / 8),
    addShift,
    upperBound,
    expShift,
    modelCap,
    shiftedZero: addShift * expShift,
    arithmetic: order < FLOAT_PATH_LIMIT ? 'float' : 'limbs',
    limbs: Math.ceil(elementBits / 32),
    boundAsDouble: largestDoubleAtMost(addShift),
    upperBoundAsDouble: largestDoubleAtMost(upperBound),
  });
  cache.set(name, params);
  return params;
}

/** The group order of a config (the public name outside checks rely on). */
export function maskOrder(config: MaskConfig): bigint {
  return maskParams(config).order;
}

/** Every one of the 240 configs, in reference order (group, data, bound, model). */
export function allMaskConfigs(): MaskConfig[] {
  const out: MaskConfig[] = [];
  for (const group of GROUP_TYPES)
    for (const data of DATA_TYPES)
      for (const bound of BOUND_TYPES) for (const model of MODEL_TYPES) out.push({ group, data, bound, model });
  return out;
}

/** Throws `invalid-mask-config` naming the first bad field. */
export function validateMaskConfig(config: unknown, field = 'maskConfig'): asserts config is MaskConfig {
  if (typeof config !== 'object' || config === null) {
    throw new PetError('invalid-mask-config', `${field}: expected an object, got ${describe(config)}`);
  }
  const c = config as Record<string, unknown>;
  const check = (key: string, allowed: readonly string[]) => {
    if (!allowed.includes(c[key] as string)) {
      throw new PetError(
        'invalid-mask-config',
        `${field}.${key}: expected one of ${allowed.join(', ')}, got ${describe(c[key])}`,
      );
    }
  };
  check('group', GROUP_TYPES);
  check('data', DATA_TYPES);
  check('bound', BOUND_TYPES);
  check('model', MODEL_TYPES);
}

export function sameConfig(a: MaskConfig, b: MaskConfig): boolean {
  return a.group === b.group && a.data === b.data && a.bound === b.bound && a.model === b.model;
}

export const MASK_CONFIG_BYTES = 4;

/** `group u8 ‖ data u8 ‖ bound u8 ‖ model u8` (protocol.md §3.6). */
export function encodeMaskConfig(config: MaskConfig): Uint8Array {
  return new Uint8Array([
    GROUP_WIRE[config.group],
    DATA_WIRE[config.data],
    BOUND_WIRE[config.bound],
    MODEL_WIRE[config.model],
  ]);
}

function fromWire<T extends string>(table: Readonly<Record<T, number>>, value: number, field: string): T {
  for (const key of Object.keys(table) as T[]) if (table[key] === value) return key;
  throw new PetError(
    'invalid-mask-config',
    `${field}: expected one of ${Object.values(table).join(', ')}, got ${value}`,
  );
}

export function readMaskConfig(reader: ByteReader, field: string): MaskConfig {
  const f = `${reader.context}.${field}`;
  return {
    group: fromWire(GROUP_WIRE, reader.u8(`${field}.group`), `${f}.group`),
    data: fromWire(DATA_WIRE, reader.u8(`${field}.data`), `${f}.data`),
    bound: fromWire(BOUND_WIRE, reader.u8(`${field}.bound`), `${f}.bound`),
    model: fromWire(MODEL_WIRE, reader.u8(`${field}.model`), `${f}.model`),
  };
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value ${String(value)}`);
}
