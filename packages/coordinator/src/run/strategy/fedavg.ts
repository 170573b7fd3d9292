/**
 * FedAvg with a server learning rate η (Reddi et al. 2021, FedOpt with plain SGD on the server):
 *
 *     x_{t+1} = x_t + η·Δ̄_t
 *
 * With η = 1 (the default) x_{t+1} = x_t + Δ̄_t is the example-weighted average of the participants'
 * models — Flower's FedAvg, which has no server learning rate. Flower reaches η ≠ 1 through FedAvgM
 * with `server_momentum = 0`: x_t − η·(x_t − average) = x_t + η·Δ̄_t, the same number up to rounding
 * (see fedavgm.ts). No vectors in the state, only the step count.
 */

import type { UpdateRule } from './strategy.ts';
import { checkStepLengths, type StateShape } from './strategy-state.ts';

const SHAPE: StateShape = { strategy: 'fedavg', vectors: [], nonNegative: [] };

export const fedAvg: UpdateRule = {
  shape: SHAPE,
  reads: ['serverLearningRate'],
  step(settings, state, global, averageUpdate) {
    const eta = settings.serverLearningRate;
    checkStepLengths(SHAPE, global, averageUpdate);
    const n = global.length;
    const model = new Float64Array(n);
    // η = 1 multiplies exactly, so the default gives x_t + Δ̄_t to the bit.
    for (let i = 0; i < n; i++) model[i] = (global[i] as number) + eta * (averageUpdate[i] as number);
    return { model, state: { v: 1, step: state.step + 1, vectors: {} } };
  },
};
