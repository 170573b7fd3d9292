/**
 * FedYogi (Reddi et al. 2021, Algorithm 2), as Flower implements it:
 *
 *     m_t     = β₁·m_{t−1} + (1 − β₁)·Δ̄_t
 *     v_t     = v_{t−1} − (1 − β₂)·Δ̄_t²·sign(v_{t−1} − Δ̄_t²)
 *     x_{t+1} = x_t + η·m_t / (√v_t + τ)
 *
 * element-wise, with m_0 = v_0 = 0 and sign(0) = 0 (numpy's and Math.sign's).
 *
 * Flower's defaults: η = 0.01, β₁ = 0.9, β₂ = 0.99, τ = 1e-3. No bias correction, as in the paper
 * (unlike Flower's FedAdam). Difference from the paper, following Flower: v starts at 0 where the
 * paper starts it at v₋₁ ≥ τ². v stays ≥ 0: it only shrinks while v_{t−1} > Δ̄_t², and then by less
 * than Δ̄_t².
 *
 * State: `m` and `v` (v ≥ 0).
 */

import type { UpdateRule } from './strategy.ts';
import { checkStepLengths, type StateShape, stateVector } from './strategy-state.ts';

const SHAPE: StateShape = { strategy: 'fedyogi', vectors: ['m', 'v'], nonNegative: ['v'] };

export const fedYogi: UpdateRule = {
  shape: SHAPE,
  reads: ['serverLearningRate', 'beta1', 'beta2', 'tau'],
  step(settings, state, global, averageUpdate) {
    const { serverLearningRate: eta, beta1, beta2, tau } = settings;
    checkStepLengths(SHAPE, global, averageUpdate);
    const n = global.length;
    const m0 = stateVector(SHAPE, state, 'm', n);
    const v0 = stateVector(SHAPE, state, 'v', n);
    const m = new Float64Array(n);
    const v = new Float64Array(n);
    const model = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const d = averageUpdate[i] as number;
      const previous = v0[i] as number;
      const d2 = d * d;
      const mi = beta1 * (m0[i] as number) + (1 - beta1) * d;
      const vi = previous - (1 - beta2) * d2 * Math.sign(previous - d2);
      m[i] = mi;
      v[i] = vi;
      model[i] = (global[i] as number) + (eta * mi) / (Math.sqrt(vi) + tau);
    }
    return { model, state: { v: 1, step: state.step + 1, vectors: { m, v } } };
  },
};
