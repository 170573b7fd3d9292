import {
  accountantEpsilon,
  addAccountantEvent,
  createAccountantState,
  initCrypto,
  roundPrivacyMechanism,
} from '@petfl/core';
import { describe, expect, it } from 'vitest';
import { addCentralNoise, charge, EMPTY_LEDGER, GRID_STEPS, noiseMultiplier } from './central-privacy.ts';

const crypto = await initCrypto();

describe('central differential privacy (docs/learning.md §7)', () => {
  it('adds noise of standard deviation σ·C/n on the grid C/(n·K), from the CSPRNG', () => {
    const P = 20_000;
    const n = 4;
    const C = 2;
    const sigma = 0.5;
    const update = new Float64Array(P);
    addCentralNoise(crypto, update, n, C, sigma);
    const g = C / (n * GRID_STEPS * Math.sqrt(P));
    let sum = 0;
    let squares = 0;
    for (const value of update) {
      // Every released value is on the grid.
      expect(Math.abs(value / g - Math.round(value / g))).toBeLessThan(1e-6);
      sum += value;
      squares += value * value;
    }
    const mean = sum / P;
    const variance = squares / P - mean * mean;
    const expected = ((sigma * C) / n) ** 2;
    // 20,000 draws: the sample variance is within 5 % with overwhelming probability (its sd is ~1 %).
    expect(Math.abs(variance / expected - 1)).toBeLessThan(0.05);
    expect(Math.abs(mean)).toBeLessThan((5 * sigma * C) / n / Math.sqrt(P));
    // Fresh noise each time.
    const again = new Float64Array(P);
    addCentralNoise(crypto, again, n, C, sigma);
    expect(again).not.toEqual(update);
  });

  it('rounds the average to the grid before the noise (the sensitivity the accountant assumes)', () => {
    const update = Float64Array.from({ length: 16 }, (_, i) => i / 7);
    const copy = update.slice();
    // A σ so small that the discrete Gaussian is 0 everywhere with overwhelming probability.
    addCentralNoise(crypto, update, 1, 1, 1e-6);
    const g = 1 / (GRID_STEPS * 4);
    for (let i = 0; i < 16; i++) expect(update[i]).toBeCloseTo(g * Math.round((copy[i] as number) / g), 12);
  });

  it('accounts each round as one discrete Gaussian of the same shape, ρ within 3.2 % of the Gaussian’s', () => {
    const mechanism = roundPrivacyMechanism({
      mechanism: 'central-gaussian',
      clipNorm: 1,
      dimension: 10_000,
      noiseMultiplier: 1.2,
    });
    if (mechanism.kind !== 'discrete-gaussian') throw new Error(`unexpected ${mechanism.kind}`);
    const rho = mechanism.l2Sensitivity ** 2 / (2 * mechanism.sigma ** 2);
    expect(rho / (1 / (2 * 1.2 ** 2))).toBeGreaterThan(1);
    expect(rho / (1 / (2 * 1.2 ** 2))).toBeLessThan(1.032);
    let ledger = EMPTY_LEDGER;
    for (let round = 0; round < 3; round++) {
      const charged = charge(ledger, mechanism, 1e-5);
      ledger = {
        accountant: charged.accountant,
        spent: [...ledger.spent, { roundId: round, epsilon: charged.epsilon }],
      };
    }
    expect(ledger.accountant.events).toEqual([{ mechanism, count: 3 }]);
    const direct = addAccountantEvent(createAccountantState(), mechanism, 3);
    expect(ledger.spent.at(-1)?.epsilon).toBe(accountantEpsilon(direct, 1e-5).value);
    expect(ledger.spent.map((s) => s.epsilon)).toEqual([...ledger.spent.map((s) => s.epsilon)].sort((a, b) => a - b));
  });

  it('solves σ from a target ε over the run’s rounds, spending no more than the target', () => {
    const privacy = {
      mechanism: 'central-gaussian',
      clipNorm: 1,
      noiseMultiplier: 0,
      targetEpsilon: 3,
      delta: 1e-5,
      budgetEpsilon: 0,
      participants: 1,
    } as const;
    const sigma = noiseMultiplier(privacy, 20);
    const spent = accountantEpsilon(
      addAccountantEvent(
        createAccountantState(),
        roundPrivacyMechanism({ mechanism: 'central-gaussian', clipNorm: 1, dimension: 5000, noiseMultiplier: sigma }),
        20,
      ),
      1e-5,
    );
    expect(spent.value).toBeLessThanOrEqual(3);
    expect(spent.value).toBeGreaterThan(2.9);
    expect(noiseMultiplier({ ...privacy, targetEpsilon: 0, noiseMultiplier: 1.7 }, 20)).toBe(1.7);
  });
});
