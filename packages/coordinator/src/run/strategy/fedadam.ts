/**
 * FedAdam (Reddi et al. 2021, Algorithm 2), as Flower implements it — with a bias correction the
 * paper does not have:
 *
 *     m_t     = β₁·m_{t−1} + (1 − β₁)·Δ̄_t
 *     v_t     = β₂·v_{t−1} + (1 − β₂)·Δ̄_t²                 (m_0 = v_0 = 0, element-wise)
 *     η_t     = η·√(1 − β₂^(s+2)) / (1 − β₁^(s+2))          (s = the state's step before this one)
 *     x_{t+1} = x_t + η_t·m_t / (√v_t + τ)
 *
 * Flower's defaults: η = 0.1, β₁ = 0.9, β₂ = 0.99, τ = 1e-9.
 *
 * Differences from the paper, all Flower's: (1) the bias-corrected step size η_t, Adam's α_t
 * (Kingma & Ba 2015, before §2.1) — only the step size is corrected, τ is added to the uncorrected
 * √v_t; (2) its exponent is Flower's server round + 1, and Flower numbers rounds from 1, so the
 * first step already uses β^2 (Adam itself would use β^1) — we count steps from 0 and use s + 2,
 * which equals Flower's exponent as long as every round produces a step (Flower's round counter
 * also advances over rounds that aggregated nothing; ours counts steps taken); (3) v starts at 0
 * where the paper starts it at v₋₁ ≥ τ².
 *
 * State: `m` and `v` (v ≥ 0).
 */

import type { UpdateRule } from './strategy.ts';
import { checkStepLengths, type StateShape, stateVector } from './strategy-state.ts';

const SHAPE: StateShape = { strategy: 'fedadam', vectors: ['m', 'v'], nonNegative: ['v'] };

export const fedAdam: UpdateRule = {
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
    const power = state.step + 2;
    const etaT = (eta * Math.sqrt(1 - beta2 ** power)) / (1 - beta1 ** power);
    for (let i = 0; i < n; i++) {
      const d = averageUpdate[i] as number;
      const mi = beta1 * (m0[i] as number) + (1 - beta1) * d;
      const vi = beta2 * (v0[i] as number) + (1 - beta2) * (d * d);
      m[i] = mi;
      v[i] = vi;
      model[i] = (global[i] as number) + (etaT * mi) / (Math.sqrt(vi) + tau);
    }
    return { model, state: { v: 1, step: state.step + 1, vectors: { m, v } } };
  },
};
