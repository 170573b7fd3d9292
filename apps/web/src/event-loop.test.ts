import { describe, expect, it } from 'vitest';
import { yieldToEventLoop } from './event-loop.ts';

/** Lets every queued microtask (and the ones they queue) run. */
async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

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
