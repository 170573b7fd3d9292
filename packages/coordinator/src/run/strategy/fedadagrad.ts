/**
 * FedAdagrad (Reddi et al. 2021, Algorithm 2), as Flower implements it:
 *
 *     m_t     = β₁·m_{t−1} + (1 − β₁)·Δ̄_t
 *     v_t     = v_{t−1} + Δ̄_t²
 *     x_{t+1} = x_t + η·m_t / (√v_t + τ)          (m_0 = v_0 = 0, element-wise)
 *
 * Flower's defaults: η = 0.1, τ = 1e-9, and β₁ = 0, which Flower fixes (its FedAdagrad takes no β₁),
 * so there m_t = Δ̄_t. We keep the paper's β₁ as a setting; at its default the rule is Flower's.
 * β₂ is not used. Differences from the paper, following Flower: v starts at 0 where the paper
 * starts it at v₋₁ ≥ τ² — τ in the denominator keeps the first step finite instead.
 *
 * State: `m` and `v` (v ≥ 0).
 */

import type { UpdateRule } from './strategy.ts';
import { checkStepLengths, type StateShape, stateVector } from './strategy-state.ts';

const SHAPE: StateShape = { strategy: 'fedadagrad', vectors: ['m', 'v'], nonNegative: ['v'] };

export const fedAdagrad: UpdateRule = {
  shape: SHAPE,
  reads: ['serverLearningRate', 'beta1', 'tau'],
  step(settings, state, global, averageUpdate) {
    const { serverLearningRate: eta, beta1, tau } = settings;
    checkStepLengths(SHAPE, global, averageUpdate);
    const n = global.length;
    const m0 = stateVector(SHAPE, state, 'm', n);
    const v0 = stateVector(SHAPE, state, 'v', n);
    const m = new Float64Array(n);
    const v = new Float64Array(n);
    const model = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const d = averageUpdate[i] as number;
      const mi = beta1 * (m0[i] as number) + (1 - beta1) * d;
      const vi = (v0[i] as number) + d * d;
      m[i] = mi;
      v[i] = vi;
      model[i] = (global[i] as number) + (eta * mi) / (Math.sqrt(vi) + tau);
    }
    return { model, state: { v: 1, step: state.step + 1, vectors: { m, v } } };
  },
};
