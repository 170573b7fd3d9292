import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from './system-clock.ts';

describe('systemClock (fake timers)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sleeps for the given time', async () => {
    let woke = false;
    const slept = systemClock.sleep(1000).then(() => {
      woke = true;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(woke).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await slept;
    expect(woke).toBe(true);
    expect(systemClock.now()).toBe(Date.now());
  });

  it('wakes early, without rejecting, when the signal aborts, and leaves no timer or listener behind', async () => {
    const controller = new AbortController();
    const remove = vi.spyOn(controller.signal, 'removeEventListener');
    const slept = systemClock.sleep(60_000, controller.signal);
    controller.abort();
    await expect(slept).resolves.toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
    expect(remove).toHaveBeenCalled();
    await expect(systemClock.sleep(60_000, controller.signal)).resolves.toBeUndefined(); // already aborted
  });

  it('removes its abort listener when the timer fires', async () => {
    const controller = new AbortController();
    const remove = vi.spyOn(controller.signal, 'removeEventListener');
    const slept = systemClock.sleep(10, controller.signal);
    await vi.advanceTimersByTimeAsync(10);
    await slept;
    expect(remove).toHaveBeenCalledTimes(1);
  });
});
