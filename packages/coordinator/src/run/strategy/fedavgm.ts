/**
 * FedAvgM, FedAvg with server momentum (Hsu et al. 2019, "Measuring the Effects of Non-Identical
 * Data Distribution for Federated Visual Classification"), as Flower implements it: server SGD with
 * heavy-ball momentum — PyTorch's convention, no dampening, no Nesterov — on the pseudo-gradient
 * g_t = x_t − average = −Δ̄_t:
 *
 *     m_t     = β·m_{t−1} + g_t        (m_0 = 0)
 *     x_{t+1} = x_t − η·m_t
 *
 * Flower's defaults are η = 1, β = 0, which is FedAvg. Differences from Flower, none of which
 * changes a number beyond rounding: Flower sets m_1 = g_1 in round 1 where we compute β·0 + g_1
 * (the same value); it keeps no momentum when β = 0 (then m_t = g_t here, the same step); and when
 * β = 0 and η = 1 it returns the weighted average itself instead of x_t − (x_t − average).
 * With β = 0 this is FedAvg with server learning rate η exactly (fedavgm.test.ts).
 *
 * State: `momentum`, m_t, in the pseudo-gradient's sign (as Flower's `momentum_vector`).
 */

import type { UpdateRule } from './strategy.ts';
import { checkStepLengths, type StateShape, stateVector } from './strategy-state.ts';

const SHAPE: StateShape = { strategy: 'fedavgm', vectors: ['momentum'], nonNegative: [] };

export const fedAvgM: UpdateRule = {
  shape: SHAPE,
  reads: ['serverLearningRate', 'serverMomentum'],
  step(settings, state, global, averageUpdate) {
    const { serverLearningRate: eta, serverMomentum: beta } = settings;
    checkStepLengths(SHAPE, global, averageUpdate);
    const n = global.length;
    const previous = stateVector(SHAPE, state, 'momentum', n);
    const momentum = new Float64Array(n);
    const model = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const m = beta * (previous[i] as number) - (averageUpdate[i] as number);
      momentum[i] = m;
      model[i] = (global[i] as number) - eta * m;
    }
    return { model, state: { v: 1, step: state.step + 1, vectors: { momentum } } };
  },
};
