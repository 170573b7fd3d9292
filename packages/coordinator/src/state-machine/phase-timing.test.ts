import { describe, expect, it } from 'vitest';
import { judgePhase } from './phase-timing.ts';

const s = { count: { min: 3, max: 5 }, time: { minMs: 1000, maxMs: 5000 } };

describe('judgePhase (protocol.md §1.3)', () => {
  it('keeps accepting before time.min, waking at time.min', () => {
    expect(judgePhase('update', s, 4, 0)).toEqual({ kind: 'open', wakeAtMs: 1000 });
    expect(judgePhase('update', s, 0, 999)).toEqual({ kind: 'open', wakeAtMs: 1000 });
  });
  it('ends as soon as count.max are in', () => {
    expect(judgePhase('update', s, 5, 0)).toEqual({ kind: 'end' });
  });
  it('after time.min ends once count.min are in, else waits until time.max', () => {
    expect(judgePhase('update', s, 3, 1000)).toEqual({ kind: 'end' });
    expect(judgePhase('update', s, 2, 1000)).toEqual({ kind: 'open', wakeAtMs: 5000 });
    expect(judgePhase('update', s, 2, 4999)).toEqual({ kind: 'open', wakeAtMs: 5000 });
  });
  it('fails at time.max with a reason that names the phase and the counts', () => {
    expect(judgePhase('sum2', s, 2, 5000)).toEqual({
      kind: 'fail',
      reason: 'sum2 phase timed out: 2 messages accepted, at least 3 needed within 5000 ms',
    });
    expect(judgePhase('sum2', s, 3, 6000)).toEqual({ kind: 'end' });
  });
});
