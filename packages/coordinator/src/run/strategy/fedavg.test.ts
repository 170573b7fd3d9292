import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { vector } from '../../../test-support/strategy-arbitraries.ts';
import { createStrategy, DEFAULT_STRATEGY_SETTINGS } from './strategy.ts';

const pair = fc.integer({ min: 0, max: 16 }).chain((n) => fc.tuple(vector(n, 1e6), vector(n, 1e6)));
const eta = fc.double({ min: 1e-6, max: 10, noNaN: true });

describe('fedavg', () => {
  it('with η = 1 (the default) returns x + Δ̄ exactly', () => {
    const strategy = createStrategy(DEFAULT_STRATEGY_SETTINGS.fedavg);
    fc.assert(
      fc.property(pair, ([x, d]) => {
        const { model } = strategy.step(strategy.initialState(x.length), x, d);
        for (let i = 0; i < x.length; i++) expect(model[i]).toBe((x[i] as number) + (d[i] as number));
      }),
    );
  });

  it('returns x + η·Δ̄ and counts the step', () => {
    fc.assert(
      fc.property(pair, eta, fc.nat(1000), ([x, d], serverLearningRate, step) => {
        const strategy = createStrategy({ ...DEFAULT_STRATEGY_SETTINGS.fedavg, serverLearningRate });
        const result = strategy.step({ v: 1, step, vectors: {} }, x, d);
        for (let i = 0; i < x.length; i++) {
          expect(result.model[i]).toBe((x[i] as number) + serverLearningRate * (d[i] as number));
        }
        expect(result.state).toEqual({ v: 1, step: step + 1, vectors: {} });
      }),
    );
  });

  it('leaves the model unchanged on a zero update, whatever η', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 16 }).chain(vector), eta, (x, serverLearningRate) => {
        const strategy = createStrategy({ ...DEFAULT_STRATEGY_SETTINGS.fedavg, serverLearningRate });
        const { model } = strategy.step(strategy.initialState(x.length), x, new Float64Array(x.length));
        for (let i = 0; i < x.length; i++) expect(model[i] === x[i]).toBe(true);
      }),
    );
  });
});
