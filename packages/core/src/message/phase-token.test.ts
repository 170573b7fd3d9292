/** phase-token.ts: which moves of the coordinator's phase token stay within one round (protocol.md §1.2). */

import { describe, expect, it } from 'vitest';
import { movedOnWithinRound } from './phase-token.ts';

describe('movedOnWithinRound', () => {
  it('is true for a later phase of the same round', () => {
    expect(movedOnWithinRound('7.sum', '7.update')).toBe(true);
    expect(movedOnWithinRound('7.update', '7.sum2')).toBe(true);
    expect(movedOnWithinRound('7.sum', '7.sum2')).toBe(true);
    expect(movedOnWithinRound('123456.update', '123456.sum2')).toBe(true);
  });

  it('is false for the same token, an earlier phase, another round, idle, shutdown or no round', () => {
    for (const [before, after] of [
      ['7.sum', '7.sum'],
      ['7.sum2', '7.sum2'],
      ['7.update', '7.sum'], // a jump back: a coordinator restarted afresh
      ['7.sum2', '7.update'],
      ['7.sum2', '8.sum'], // the next round
      ['7.update', '8.update'],
      ['7.update', '17.sum2'], // not a prefix match
      ['17.update', '7.sum2'],
      ['7.sum2', '7.idle'],
      ['7.update', '7.shutdown'],
      ['7.idle', '7.sum'],
      ['-.idle', '-.sum'],
      ['', '7.sum'],
      ['7.sum', ''],
      ['7', '7.update'],
      ['.sum', '.update'],
      ['7.sum', '7.unmask'],
    ]) {
      expect(movedOnWithinRound(before as string, after as string), `${before} → ${after}`).toBe(false);
    }
  });
});
