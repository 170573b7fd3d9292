/**
 * The privacy accountant: a ledger of mechanism releases (accountant-state.ts), their composition
 * and the resulting (ε, δ) — the same numbers on a participant and on the coordinator, because both
 * compute them from the same plain-data ledger with the same float64 code.
 *
 * Composition is in Rényi DP: the RDP curve of the ledger is Σ count·RDP(mechanism) order by order
 * (Mironov, "Rényi Differential Privacy", CSF 2017, Proposition 1), and only the total is converted
 * to (ε, δ) (rdp-conversion.ts). For a ledger of subsampled Gaussian, Gaussian, zCDP and discrete
 * Gaussian events this is exactly what dp_accounting's RdpAccountant computes for the same events
 * on the same orders. When every event is ρ-zCDP the ledger is too, with ρ = Σ count·ρ (Bun &
 * Steinke, "Concentrated Differential Privacy: Simplifications, Extensions, and Lower Bounds",
 * TCC 2016: ρs add under composition).
 *
 * The functions below are pure over `AccountantState`; `Accountant` wraps one state and caches each
 * distinct mechanism's RDP curve, so that adding a round of an already-seen mechanism costs no
 * new curve, and its answers are bit-for-bit those of the functions.
 */

import {
  ACCOUNTANT_STATE_VERSION,
  type AccountantEvent,
  type AccountantState,
  MAX_COUNT,
  MAX_EVENTS,
  validateAccountantState,
} from './accountant-state.ts';
import { type Mechanism, mechanismKey, mechanismRdp, mechanismRho, validateMechanism } from './mechanism.ts';
import { DEFAULT_RDP_ORDERS, orderProblems } from './orders.ts';
import { checkInteger, throwProblems } from './parameters.ts';
import { type ConversionAtOrder, rdpToDelta, rdpToEpsilon } from './rdp-conversion.ts';

/** An empty ledger over the given orders (dp_accounting's default grid unless told). */
export function createAccountantState(orders: readonly number[] = DEFAULT_RDP_ORDERS): AccountantState {
  throwProblems('accountant orders', orderProblems('orders', orders));
  return { v: ACCOUNTANT_STATE_VERSION, orders: [...orders], events: [] };
}

/**
 * The ledger with `count` more releases of `mechanism` (merged into an equal mechanism's entry).
 * Throws `PetError('invalid-field')` for an invalid mechanism or count, or a ledger that would
 * exceed MAX_EVENTS distinct mechanisms.
 */
export function addAccountantEvent(state: AccountantState, mechanism: Mechanism, count = 1): AccountantState {
  validateMechanism(mechanism);
  throwProblems('accountant event', [checkInteger('count', count, 1, MAX_COUNT)]);
  const key = mechanismKey(mechanism);
  const at = state.events.findIndex((e) => mechanismKey(e.mechanism) === key);
  if (at < 0) {
    if (state.events.length >= MAX_EVENTS) {
      throwProblems('accountant event', [`events: expected at most ${MAX_EVENTS} distinct mechanisms`]);
    }
    return { ...state, events: [...state.events, { mechanism: { ...mechanism }, count }] };
  }
  const merged = (state.events[at] as AccountantEvent).count + count;
  throwProblems('accountant event', [checkInteger(`events[${at}].count`, merged, 1, MAX_COUNT)]);
  return { ...state, events: state.events.map((e, i) => (i === at ? { ...e, count: merged } : e)) };
}

/** The ledger's RDP curve: Σ count·RDP(mechanism) at each order, summed in ledger order. */
export function accountantRdp(state: AccountantState): number[] {
  return composeLedger(state, (m) => mechanismRdp(m, state.orders));
}

function composeLedger(state: AccountantState, curveOf: (m: Mechanism) => readonly number[]): number[] {
  const total = state.orders.map(() => 0);
  for (const event of state.events) {
    const curve = curveOf(event.mechanism);
    for (let i = 0; i < total.length; i++) total[i] = (total[i] as number) + event.count * (curve[i] as number);
  }
  return total;
}

/** ε of the whole ledger for a target δ, with the order that gave it. */
export function accountantEpsilon(state: AccountantState, delta: number): ConversionAtOrder {
  return rdpToEpsilon(state.orders, accountantRdp(state), delta);
}

/** δ of the whole ledger for a target ε, with the order that gave it. */
export function accountantDelta(state: AccountantState, epsilon: number): ConversionAtOrder {
  return rdpToDelta(state.orders, accountantRdp(state), epsilon);
}

/** ρ of the whole ledger when every event is ρ-zCDP (Σ count·ρ); undefined otherwise. */
export function accountantRho(state: AccountantState): number | undefined {
  let rho = 0;
  for (const event of state.events) {
    const one = mechanismRho(event.mechanism);
    if (one === undefined) return undefined;
    rho += event.count * one;
  }
  return rho;
}

/**
 * A ledger with its mechanisms' RDP curves cached: `add` per round, read ε whenever. Its numbers
 * are bit-for-bit those of the pure functions on `state` (same ledger, same summation order).
 */
export class Accountant {
  #state: AccountantState;
  readonly #curves = new Map<string, readonly number[]>();
  #rdp: number[] | undefined;

  /** A new, empty accountant over the given orders. */
  constructor(orders: readonly number[] = DEFAULT_RDP_ORDERS) {
    this.#state = createAccountantState(orders);
  }

  /** An accountant continuing a persisted ledger; throws `PetError('invalid-field')` if it is not one. */
  static restore(value: unknown): Accountant {
    const state = validateAccountantState(value);
    const accountant = new Accountant(state.orders);
    for (const event of state.events) accountant.add(event.mechanism, event.count);
    return accountant;
  }

  /** Records `count` releases of `mechanism`. */
  add(mechanism: Mechanism, count = 1): this {
    this.#state = addAccountantEvent(this.#state, mechanism, count);
    this.#rdp = undefined;
    return this;
  }

  /** The persisted form: plain data, a fresh copy. */
  get state(): AccountantState {
    return {
      v: ACCOUNTANT_STATE_VERSION,
      orders: [...this.#state.orders],
      events: this.#state.events.map((e) => ({ mechanism: { ...e.mechanism }, count: e.count })),
    };
  }

  get orders(): readonly number[] {
    return this.#state.orders;
  }

  /** The composed RDP curve (a copy). */
  rdp(): number[] {
    return [...this.#composed()];
  }

  /** ε for a target δ. */
  epsilon(delta: number): number {
    return this.epsilonAndOrder(delta).value;
  }

  /** ε for a target δ, with the order that gave it. */
  epsilonAndOrder(delta: number): ConversionAtOrder {
    return rdpToEpsilon(this.#state.orders, this.#composed(), delta);
  }

  /** δ for a target ε. */
  delta(epsilon: number): number {
    return rdpToDelta(this.#state.orders, this.#composed(), epsilon).value;
  }

  /** ρ when every recorded event is ρ-zCDP; undefined otherwise. */
  rho(): number | undefined {
    return accountantRho(this.#state);
  }

  #composed(): number[] {
    this.#rdp ??= composeLedger(this.#state, (m) => {
      const key = mechanismKey(m);
      let curve = this.#curves.get(key);
      if (curve === undefined) {
        curve = mechanismRdp(m, this.#state.orders);
        this.#curves.set(key, curve);
      }
      return curve;
    });
    return this.#rdp;
  }
}
