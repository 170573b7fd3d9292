/**
 * Privacy filters: transformations a participant applies to its model update, in order and in
 * place, before the update is encoded and masked (protocol.md §4.3) — Laplace noise, percentile
 * sharing and the sparse vector technique, as Li et al. combine them for federated learning
 * ("Privacy-preserving Federated Brain Tumour Segmentation", MLMI 2019).
 *
 * A filter is plain, JSON-serialisable data (`PrivacyFilter`), checked once by
 * `validatePrivacyFilters`, which lists every problem. `applyPrivacyFilters` draws all noise from
 * one CSPRNG source and reports, per filter, the coordinates it shared and the ε it guarantees
 * (see each filter's module comment; null for percentile, which guarantees nothing).
 *
 * Composition: the Laplace filter (ε with norm 'l1', n·ε with 'linf') and the SVT filter are ε-DP
 * between *any* two updates, because each clips its own input. Such a guarantee survives the filters before it (they only change an input
 * the filter treats as arbitrary) and after it (post-processing), so the whole chain is ε-DP with
 * ε the smallest of them: the report's `epsilon`. Order still matters for utility: Laplace noise
 * fills zeros that percentile left, while percentile after Laplace keeps the noisy largest values.
 */

import type { PetCrypto } from '../../crypto/sodium.ts';
import { PetError } from '../../errors.ts';
import { assertNever } from '../../mask/config.ts';
import { checkNumber, describeValue, throwProblems } from '../accountant/parameters.ts';
import { type RandomSource, randomSource } from '../sampling/random-source.ts';
import type { FilterOutcome } from './filter-outcome.ts';
import { applyLaplace, type LaplaceFilter, type LaplacePlan, planLaplace } from './laplace.ts';
import { applyPercentile, type PercentileFilter } from './percentile.ts';
import { applySvt, planSvt, type SvtFilter, type SvtPlan } from './svt.ts';

export type PrivacyFilter = LaplaceFilter | PercentileFilter | SvtFilter;
export type PrivacyFilterKind = PrivacyFilter['kind'];

/** Most filters in one list: a participant-supplied list gets a bound like every input. */
export const MAX_PRIVACY_FILTERS = 16;

/** The ranges every filter's numbers are checked against. */
export const PRIVACY_FILTER_LIMITS = {
  /** ε below this needs a noise scale the exact sampler cannot draw at any useful grid. */
  minEpsilon: 1e-6,
  maxEpsilon: 1e6,
  /** Clip bounds: far inside the doubles, so the power-of-two grid step stays a normal number. */
  minBound: 1e-100,
  maxBound: 1e100,
} as const;

const FIELDS: { readonly [K in PrivacyFilterKind]: readonly string[] } = {
  laplace: ['epsilon', 'norm', 'bound'],
  percentile: ['fraction', 'bound'],
  svt: ['fraction', 'threshold', 'bound', 'selectionEpsilon', 'releaseEpsilon'],
};

const NORMS = ['l1', 'linf'] as const;

function isKind(value: unknown): value is PrivacyFilterKind {
  return typeof value === 'string' && Object.hasOwn(FIELDS, value);
}

/** Everything wrong with a value that should be a PrivacyFilter, each naming its field under `field`. */
export function privacyFilterProblems(field: string, value: unknown): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [`${field}: expected a filter object, got ${describeValue(value)}`];
  }
  const m = value as Record<string, unknown>;
  const kind = m['kind'];
  if (!isKind(kind)) {
    return [`${field}.kind: expected one of ${Object.keys(FIELDS).join(', ')}, got ${describeValue(kind)}`];
  }
  const problems: (string | undefined)[] = [];
  for (const key of Object.keys(m)) {
    if (key !== 'kind' && !FIELDS[kind].includes(key)) problems.push(`${field}.${key}: not a field of ${kind}`);
  }
  const L = PRIVACY_FILTER_LIMITS;
  const f = (name: string) => `${field}.${name}`;
  const epsilon = (name: string) => checkNumber(f(name), m[name], L.minEpsilon, L.maxEpsilon, true);
  const bound = checkNumber(f('bound'), m['bound'], L.minBound, L.maxBound, true);
  const fraction = () => checkNumber(f('fraction'), m['fraction'], 0, 1);
  switch (kind) {
    case 'laplace':
      problems.push(epsilon('epsilon'));
      if (!NORMS.includes(m['norm'] as 'l1')) {
        problems.push(`${f('norm')}: expected "l1" or "linf", got ${describeValue(m['norm'])}`);
      }
      problems.push(bound);
      break;
    case 'percentile':
      problems.push(fraction(), bound);
      break;
    case 'svt': {
      problems.push(fraction());
      // The threshold is compared with |value| clamped to the bound: above it, nothing qualifies.
      const max = bound === undefined ? (m['bound'] as number) : L.maxBound;
      problems.push(checkNumber(f('threshold'), m['threshold'], 0, max, true), bound);
      problems.push(epsilon('selectionEpsilon'));
      problems.push(epsilon('releaseEpsilon'));
      break;
    }
    default:
      assertNever(kind);
  }
  return problems.filter((p): p is string => p !== undefined);
}

/** A copy of a checked filter holding only its own fields. */
function copyFilter(m: Record<string, unknown>, kind: PrivacyFilterKind): PrivacyFilter {
  const copy: Record<string, unknown> = { kind };
  for (const key of FIELDS[kind]) copy[key] = m[key];
  return copy as unknown as PrivacyFilter;
}

/**
 * The filters in `value`, an array of at most MAX_PRIVACY_FILTERS filter objects, as fresh plain
 * objects; otherwise one `PetError('invalid-field')` listing every problem (`filters[1].epsilon: …`).
 */
export function validatePrivacyFilters(value: unknown): PrivacyFilter[] {
  if (!Array.isArray(value)) {
    throwProblems('privacy filters', [`filters: expected an array, got ${describeValue(value)}`]);
  }
  const list = value as unknown[];
  if (list.length > MAX_PRIVACY_FILTERS) {
    throwProblems('privacy filters', [`filters: expected at most ${MAX_PRIVACY_FILTERS} filters, got ${list.length}`]);
  }
  throwProblems(
    'privacy filters',
    list.flatMap((item, i) => privacyFilterProblems(`filters[${i}]`, item)),
  );
  return list.map((item) => {
    const m = item as Record<string, unknown>;
    return copyFilter(m, m['kind'] as PrivacyFilterKind);
  });
}

/** What `applyPrivacyFilters` did: one outcome per filter, in order. */
export interface FilterReport {
  readonly filters: readonly FilterOutcome[];
  /** The chain's ε between any two updates: the smallest filter ε (module comment); null if none gives one. */
  readonly epsilon: number | null;
}

type Planned =
  | { readonly kind: 'laplace'; readonly plan: LaplacePlan }
  | { readonly kind: 'percentile'; readonly filter: PercentileFilter }
  | { readonly kind: 'svt'; readonly plan: SvtPlan };

function plan(filter: PrivacyFilter, length: number): Planned {
  switch (filter.kind) {
    case 'laplace':
      return { kind: 'laplace', plan: planLaplace(filter) };
    case 'percentile':
      return { kind: 'percentile', filter };
    case 'svt':
      return { kind: 'svt', plan: planSvt(filter, length) };
    default:
      return assertNever(filter);
  }
}

function applyOne(planned: Planned, update: Float64Array, source: RandomSource): FilterOutcome {
  switch (planned.kind) {
    case 'laplace':
      return applyLaplace(planned.plan, update, source);
    case 'percentile':
      return applyPercentile(planned.filter, update);
    case 'svt':
      return applySvt(planned.plan, update, source);
    default:
      return assertNever(planned);
  }
}

/**
 * Applies `filters` to `update` in order, in place, with noise from libsodium's CSPRNG (or from the
 * keystream of `options.seed`: tests and reproduction only). The filters are validated, every
 * value must be finite ('invalid-model-value') and every filter is planned ('out-of-range' when ε
 * is too small for its sensitivity) before the update is touched. Should a filter fail after that,
 * the update is zeroed rather than left half filtered.
 * SECURITY: a seed makes the noise known to whoever holds it (random-source.ts).
 */
export function applyPrivacyFilters(
  crypto: PetCrypto,
  update: Float64Array,
  filters: readonly PrivacyFilter[],
  options: { readonly seed?: Uint8Array } = {},
): FilterReport {
  const checked = validatePrivacyFilters(filters);
  for (let i = 0; i < update.length; i++) {
    const v = update[i] as number;
    if (!Number.isFinite(v)) {
      throw new PetError('invalid-model-value', `update[${i}]: expected a finite number, got ${v}`);
    }
  }
  const plans = checked.map((filter) => plan(filter, update.length));
  if (plans.length === 0) return { filters: [], epsilon: null };
  const source = randomSource(crypto, options.seed);
  const outcomes: FilterOutcome[] = [];
  try {
    for (const planned of plans) outcomes.push(applyOne(planned, update, source));
  } catch (error) {
    update.fill(0);
    throw error;
  } finally {
    source.dispose();
  }
  let epsilon: number | null = null;
  for (const o of outcomes) if (o.epsilon !== null && (epsilon === null || o.epsilon < epsilon)) epsilon = o.epsilon;
  return { filters: outcomes, epsilon };
}
