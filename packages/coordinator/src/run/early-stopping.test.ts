import { describe, expect, it } from 'vitest';
import { EARLY_STOPPING_START, type EarlyStoppingSettings, judgeEvaluation } from './early-stopping.ts';

function run(settings: EarlyStoppingSettings, values: readonly number[]) {
  let state = EARLY_STOPPING_START;
  const stops: boolean[] = [];
  values.forEach((value, i) => {
    const verdict = judgeEvaluation(settings, state, i + 1, value);
    state = verdict.state;
    stops.push(verdict.stop);
  });
  return { state, stops };
}

const loss: EarlyStoppingSettings = { metric: 'loss', mode: 'min', patience: 2, tolerance: 0, relative: false };

describe('early stopping (docs/learning.md §5)', () => {
  it('stops after `patience` evaluations without a strict improvement and keeps the best', () => {
    const { state, stops } = run(loss, [1, 0.8, 0.8, 0.9]);
    expect(stops).toEqual([false, false, false, true]);
    expect(state.best).toEqual({ roundId: 2, value: 0.8 });
  });

  it('an improvement resets the count', () => {
    expect(run(loss, [1, 1.1, 0.9, 1.2, 1.3]).stops).toEqual([false, false, false, false, true]);
  });

  it('maximises with mode = "max"', () => {
    const { state, stops } = run({ ...loss, metric: 'accuracy', mode: 'max' }, [0.5, 0.7, 0.6, 0.65]);
    expect(stops).toEqual([false, false, false, true]);
    expect(state.best).toEqual({ roundId: 2, value: 0.7 });
  });

  it('needs a gain of at least the tolerance, absolute or relative', () => {
    expect(run({ ...loss, tolerance: 0.1 }, [1, 0.95, 0.92]).stops).toEqual([false, false, true]);
    expect(run({ ...loss, tolerance: 0.1 }, [1, 0.875, 0.8, 0.75, 0.7, 0.69]).stops).toEqual([
      false,
      false,
      false,
      false,
      false,
      true,
    ]);
    // relative: 10 % of |best|
    expect(run({ ...loss, tolerance: 0.1, relative: true }, [10, 9, 8.5, 8.2]).stops).toEqual([
      false,
      false,
      false,
      true,
    ]);
  });
});
