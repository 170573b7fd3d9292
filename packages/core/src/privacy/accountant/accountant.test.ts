import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isPetError } from '../../errors.ts';
import {
  Accountant,
  accountantEpsilon,
  accountantRdp,
  accountantRho,
  addAccountantEvent,
  createAccountantState,
} from './accountant.ts';
import { type AccountantState, MAX_EVENTS, validateAccountantState } from './accountant-state.ts';
import { type Mechanism, mechanismRdp, validateMechanism } from './mechanism.ts';
import { DEFAULT_RDP_ORDERS } from './orders.ts';
import { zcdpToEpsilon } from './zcdp.ts';

function code(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    if (isPetError(error)) return `${error.code}: ${error.message}`;
    throw error;
  }
  return 'no error';
}

const subsampled: Mechanism = { kind: 'subsampled-gaussian', noiseMultiplier: 1.1, samplingRate: 0.01 };
const ddg: Mechanism = {
  kind: 'distributed-discrete-gaussian',
  sigma: 40,
  participants: 100,
  dimension: 1024,
  l1Sensitivity: 3000,
  l2Sensitivity: 100,
};
const skellam: Mechanism = { kind: 'skellam', mu: 800, participants: 100, l1Sensitivity: 3000, l2Sensitivity: 100 };

/** Mechanisms with parameters in ranges where every order converges. */
const mechanism: fc.Arbitrary<Mechanism> = fc.oneof(
  fc.record({ kind: fc.constant('gaussian' as const), noiseMultiplier: fc.double({ min: 0.3, max: 50, noNaN: true }) }),
  fc.record({
    kind: fc.constant('subsampled-gaussian' as const),
    noiseMultiplier: fc.double({ min: 1, max: 20, noNaN: true }),
    samplingRate: fc.double({ min: 1e-3, max: 0.2, noNaN: true }),
  }),
  fc.record({ kind: fc.constant('zcdp' as const), rho: fc.double({ min: 0, max: 2, noNaN: true }) }),
  fc.record({
    kind: fc.constant('discrete-gaussian' as const),
    sigma: fc.double({ min: 1, max: 100, noNaN: true }),
    l2Sensitivity: fc.double({ min: 0.5, max: 10, noNaN: true }),
  }),
  fc.record({
    kind: fc.constant('skellam' as const),
    mu: fc.double({ min: 1, max: 1e4, noNaN: true }),
    participants: fc.integer({ min: 1, max: 1000 }),
    l1Sensitivity: fc.double({ min: 1, max: 100, noNaN: true }),
    l2Sensitivity: fc.double({ min: 1, max: 10, noNaN: true }),
  }),
);
const count = fc.integer({ min: 1, max: 1000 });
const orders = [1.5, 2, 3, 8, 32, 128];

describe('accountant ledger', () => {
  it('starts empty at ε = 0 and keeps plain, structured-clonable, versioned data', () => {
    const accountant = new Accountant();
    expect(accountant.epsilon(1e-5)).toBe(0);
    accountant.add(subsampled, 300).add(ddg, 2).add(skellam).add({ kind: 'zcdp', rho: 0.01 });
    const state = accountant.state;
    expect(state.v).toBe(1);
    expect(state.orders).toEqual(DEFAULT_RDP_ORDERS);
    expect(state.events.map((e) => [e.mechanism.kind, e.count])).toEqual([
      ['subsampled-gaussian', 300],
      ['distributed-discrete-gaussian', 2],
      ['skellam', 1],
      ['zcdp', 1],
    ]);
    const copy = structuredClone(state);
    expect(copy).toEqual(state);
    const restored = Accountant.restore(JSON.parse(JSON.stringify(copy)));
    expect(restored.epsilon(1e-5)).toBe(accountant.epsilon(1e-5));
    expect(restored.rdp()).toEqual(accountant.rdp());
  });

  it('merges equal mechanisms (counts add), so identical rounds stay one entry', () => {
    const accountant = new Accountant();
    for (let round = 0; round < 50; round++) accountant.add(subsampled);
    accountant.add({ kind: 'zcdp', rho: 0.1 }).add({ kind: 'zcdp', rho: 0.1, xi: 0 }, 4);
    expect(accountant.state.events).toEqual([
      { mechanism: subsampled, count: 50 },
      { mechanism: { kind: 'zcdp', rho: 0.1 }, count: 5 },
    ]);
    // Not merged: a different ξ.
    accountant.add({ kind: 'zcdp', rho: 0.1, xi: 0.01 });
    expect(accountant.state.events).toHaveLength(3);
  });

  it('the class and the pure functions give bit-identical numbers', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(mechanism, count), { minLength: 1, maxLength: 6 }), (events) => {
        const accountant = new Accountant(orders);
        let state: AccountantState = createAccountantState(orders);
        for (const [m, c] of events) {
          accountant.add(m, c);
          state = addAccountantEvent(state, m, c);
        }
        expect(accountant.state).toEqual(state);
        expect(accountant.rdp()).toEqual(accountantRdp(state));
        expect(accountant.epsilonAndOrder(1e-6)).toEqual(accountantEpsilon(state, 1e-6));
      }),
      { numRuns: 50 },
    );
  });

  it('composition is additive in RDP: the ledger’s curve is Σ count·curve, order by order', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(mechanism, count), { minLength: 1, maxLength: 5 }), (events) => {
        const accountant = new Accountant(orders);
        const expected = orders.map(() => 0);
        for (const [m, c] of events) {
          accountant.add(m, c);
          mechanismRdp(m, orders).forEach((r, i) => {
            expected[i] = (expected[i] as number) + c * r;
          });
        }
        accountant.rdp().forEach((r, i) => {
          const want = expected[i] as number;
          // +∞: an order where the subsampled Gaussian's series did not settle (excluded).
          if (want === Number.POSITIVE_INFINITY) expect(r).toBe(want);
          else expect(Math.abs(r - want)).toBeLessThanOrEqual(1e-12 * Math.abs(want));
        });
      }),
      { numRuns: 50 },
    );
  });

  it('ε grows with every event added', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(mechanism, count), { minLength: 1, maxLength: 5 }), (events) => {
        const accountant = new Accountant(orders);
        let previous = 0;
        for (const [m, c] of events) {
          const epsilon = accountant.add(m, c).epsilon(1e-5);
          expect(epsilon).toBeGreaterThanOrEqual(previous);
          previous = epsilon;
        }
      }),
      { numRuns: 50 },
    );
  });

  it('ρ is Σ count·ρ when every event is ρ-zCDP, and undefined otherwise', () => {
    const accountant = new Accountant()
      .add({ kind: 'gaussian', noiseMultiplier: 2 }, 10)
      .add({ kind: 'discrete-gaussian', sigma: 10, l2Sensitivity: 2 }, 3)
      .add({ kind: 'zcdp', rho: 0.001 }, 7);
    const rho = 10 / 8 + (3 * 4) / 200 + 7 * 0.001;
    expect(accountant.rho()).toBeCloseTo(rho, 14);
    // All ρ-zCDP: the ledger's ε is that of one ρ-zCDP event.
    expect(accountant.epsilon(1e-5)).toBeCloseTo(zcdpToEpsilon(rho, 1e-5).value, 12);
    expect(accountantRho(accountant.state)).toBe(accountant.rho());
    expect(new Accountant().add({ kind: 'zcdp', rho: 0.1, xi: 0.1 }).rho()).toBeUndefined();
    expect(new Accountant().add(subsampled).rho()).toBeUndefined();
    expect(new Accountant().add(skellam).rho()).toBeUndefined();
    expect(new Accountant().rho()).toBe(0);
  });
});

describe('accountant validation (a persisted ledger is untrusted input)', () => {
  const valid = (): AccountantState => new Accountant(orders).add(subsampled, 3).add(ddg).state;

  it('accepts what the accountant persists', () => {
    expect(validateAccountantState(valid())).toEqual(valid());
  });

  it('names each problem: version, orders, events, mechanisms, counts, unknown fields', () => {
    expect(code(() => validateAccountantState(null))).toBe(
      'invalid-field: accountant state: expected an object, got null',
    );
    expect(code(() => validateAccountantState({ ...valid(), v: 2 }))).toBe(
      'invalid-field: accountant state: v: expected 1, got 2',
    );
    expect(code(() => validateAccountantState({ ...valid(), orders: [2, 1.5] }))).toBe(
      'invalid-field: accountant state: orders[1]: expected orders in increasing order, got 1.5 after 2',
    );
    expect(code(() => validateAccountantState({ ...valid(), orders: [1, 2] }))).toBe(
      'invalid-field: accountant state: orders[0]: expected a number in (1, 10000], got 1',
    );
    expect(code(() => validateAccountantState({ ...valid(), orders: [] }))).toBe(
      'invalid-field: accountant state: orders: expected 1 to 1024 orders, got 0',
    );
    expect(code(() => validateAccountantState({ ...valid(), extra: 1 }))).toBe(
      'invalid-field: accountant state: extra: not a field of the accountant state',
    );
    const events = (list: unknown[]) => ({ ...valid(), events: list });
    expect(code(() => validateAccountantState(events([{ mechanism: subsampled, count: 0 }])))).toBe(
      'invalid-field: accountant state: events[0].count: expected an integer in [1, 9007199254740991], got 0',
    );
    expect(code(() => validateAccountantState(events([{ mechanism: { kind: 'laplace', b: 1 }, count: 1 }])))).toBe(
      'invalid-field: accountant state: events[0].mechanism.kind: expected one of gaussian, subsampled-gaussian, zcdp, ' +
        'discrete-gaussian, distributed-discrete-gaussian, skellam, got "laplace"',
    );
    expect(
      code(() =>
        validateAccountantState(
          events([
            { mechanism: { ...subsampled, samplingRate: 1.5 }, count: 1 },
            { mechanism: { kind: 'gaussian', noiseMultiplier: Number.NaN, sigma: 1 }, count: 2.5, when: 'now' },
          ]),
        ),
      ),
    ).toBe(
      'invalid-field: accountant state: events[0].mechanism.samplingRate: expected a number in (0, 1], got 1.5; ' +
        'events[1].when: not a field of an event; events[1].mechanism.sigma: not a field of gaussian; ' +
        'events[1].mechanism.noiseMultiplier: expected a number in (0, 1000000000000], got NaN; ' +
        'events[1].count: expected an integer in [1, 9007199254740991], got 2.5',
    );
    expect(code(() => validateAccountantState(events([{ mechanism: { ...ddg, sigma: 0.25 }, count: 1 }])))).toBe(
      'invalid-field: accountant state: events[0].mechanism.sigma: expected a number in [0.5, 1000000000000], got 0.25',
    );
  });

  it('bounds sizes before looking inside', () => {
    const many = Array.from({ length: MAX_EVENTS + 1 }, () => ({ mechanism: subsampled, count: 1 }));
    expect(code(() => validateAccountantState({ ...valid(), events: many }))).toBe(
      `invalid-field: accountant state: events: expected at most ${MAX_EVENTS} events, got ${MAX_EVENTS + 1}`,
    );
    const garbage = Array.from({ length: 1000 }, () => ({ mechanism: 1, count: -1 }));
    const message = code(() => validateAccountantState({ ...valid(), events: garbage }));
    expect(message.split('; ').length).toBe(20);
  });

  it('refuses invalid events at add, and a count that would stop being exact', () => {
    const accountant = new Accountant();
    expect(code(() => accountant.add({ kind: 'gaussian', noiseMultiplier: -1 }))).toBe(
      'invalid-field: mechanism.noiseMultiplier: expected a number in (0, 1000000000000], got -1',
    );
    expect(code(() => accountant.add(subsampled, 0))).toBe(
      'invalid-field: accountant event: count: expected an integer in [1, 9007199254740991], got 0',
    );
    accountant.add(subsampled, Number.MAX_SAFE_INTEGER);
    expect(code(() => accountant.add(subsampled, 1))).toMatch(/^invalid-field: accountant event: events\[0\]\.count/);
    expect(code(() => validateMechanism('gaussian'))).toBe(
      'invalid-field: mechanism: expected a mechanism object, got "gaussian"',
    );
    expect(code(() => new Accountant([]))).toBe(
      'invalid-field: accountant orders: orders: expected 1 to 1024 orders, got 0',
    );
  });
});
