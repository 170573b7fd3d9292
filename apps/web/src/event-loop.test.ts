import { describe, expect, it } from 'vitest';
import { inSlices, yieldToEventLoop } from './event-loop.ts';

/** Lets every queued microtask (and the ones they queue) run. */
async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

describe('inSlices', () => {
  it('visits every item once, in order; after the first slice, each waits for a task of its own', async () => {
    const items = Array.from({ length: 50 }, (_, i) => i);
    const seen: number[] = [];
    const slices: number[] = [];
    const done = inSlices(
      items,
      (slice) => {
        slices.push(slice.length);
        seen.push(...slice);
      },
      0,
    );
    expect(seen).toEqual([0]); // the first slice runs at once
    await flushMicrotasks();
    expect(seen).toEqual([0]); // the next is not a microtask away: the event loop gets in first
    await done;
    expect(seen).toEqual(items);
    expect(slices).toEqual(items.map(() => 1)); // sliceMs 0: one item a slice
  });

  it('grows a slice at most twofold, up to what fits in sliceMs at the last pace', async () => {
    const sizes: number[] = [];
    await inSlices(
      Array.from({ length: 1000 }, (_, i) => i),
      (slice) => sizes.push(slice.length),
      60_000, // cheap items and a long slice: the sizes double
    );
    expect(sizes.slice(0, 5)).toEqual([1, 2, 4, 8, 16]);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(1000);
  });

  it('does nothing for no items', async () => {
    let calls = 0;
    await inSlices([], () => calls++);
    expect(calls).toBe(0);
  });
});

describe('yieldToEventLoop', () => {
  it('resolves in a later task, not among the microtasks', async () => {
    let resolved = false;
    const yielded = yieldToEventLoop().then(() => {
      resolved = true;
    });
    await flushMicrotasks();
    expect(resolved).toBe(false);
    await yielded;
    expect(resolved).toBe(true);
  });
});
