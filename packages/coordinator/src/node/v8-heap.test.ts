/**
 * The growing factor the CLI gives V8 (v8-heap.ts): the setting, unless the operator gave Node the
 * flag; 0 leaves V8's own choice. (The CLI's start-up log shows the decision: cli.test.ts.)
 */

import { describe, expect, it } from 'vitest';
import { givenHeapGrowingFlag, heapGrowing } from './v8-heap.ts';

describe('heapGrowing', () => {
  it('sets the setting when Node was given no such flag', () => {
    expect(heapGrowing(200, [])).toEqual({ kind: 'set', percent: 200 });
    expect(heapGrowing(150, ['--enable-source-maps', '--max-old-space-size=4096'])).toEqual({
      kind: 'set',
      percent: 150,
    });
  });

  it('leaves V8 its own choice for 0', () => {
    expect(heapGrowing(0, [])).toEqual({ kind: 'v8-default' });
  });

  it("keeps the operator's own flag from Node's arguments, in either spelling", () => {
    expect(heapGrowing(200, ['--heap-growing-percent=50'])).toEqual({
      kind: 'node-flag',
      flag: '--heap-growing-percent=50',
    });
    expect(heapGrowing(0, ['--trace-gc', '--heap_growing_percent=300'])).toEqual({
      kind: 'node-flag',
      flag: '--heap_growing_percent=300',
    });
  });

  it('does not take a longer flag that starts alike for it', () => {
    expect(givenHeapGrowingFlag(['--heap-growing-percentage=5', '--heap-growing-percent-x'])).toBeUndefined();
    expect(givenHeapGrowingFlag(['--heap-growing-percent'])).toBe('--heap-growing-percent');
  });
});
