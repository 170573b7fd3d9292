/**
 * Long work on a page's main thread, cut into short tasks (docs/architecture.md §5.4): a task
 * over 50 ms delays input and rendering, and the demo scores every global model and trains on
 * the page. Between slices the work yields to the event loop through a message-channel task,
 * not a timer or an animation frame: a hidden tab throttles timers (to one a second or less)
 * and runs no animation frames, and neither wait is needed to let queued input and rendering in.
 */

/** How long a slice of main-thread work runs before it yields (the long-task threshold is 50 ms). */
export const SLICE_MS = 20;

/** Resolves in a new task, after whatever the event loop has queued meanwhile. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close(); // a closed port keeps no event loop (Node's) alive
      resolve();
    };
    port2.postMessage(null);
  });
}

/**
 * Runs `work` over `items` in consecutive slices of about `sliceMs` each, yielding between
 * them. A slice's size follows the pace of the one before it (at least 1 item, at most twice
 * as many as before), so the slices stay short for a large model and few for a small one.
 */
export async function inSlices<T>(
  items: readonly T[],
  work: (slice: readonly T[]) => void,
  sliceMs: number = SLICE_MS,
): Promise<void> {
  let size = 1;
  for (let start = 0; start < items.length; ) {
    const began = performance.now();
    const slice = items.slice(start, start + size);
    work(slice);
    start += slice.length;
    if (start >= items.length) return;
    const ms = performance.now() - began;
    size = Math.max(1, Math.min(2 * size, Math.floor((size * sliceMs) / Math.max(ms, 0.01))));
    await yieldToEventLoop();
  }
}
