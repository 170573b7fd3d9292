/**
 * Long work cut into short tasks (docs/architecture.md §5.4): the trainer (trainer.ts) yields
 * between its batches so that queued messages, input and rendering get in (a task over 50 ms
 * delays them). It yields to the event loop through a message-channel task, not a timer or an
 * animation frame: a hidden tab throttles timers (to one a second or less) and runs no animation
 * frames, and neither wait is needed to let what is queued in.
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
