/**
 * Training in a background tab. TensorFlow.js yields to the browser between
 * batches with `requestAnimationFrame` (tfjs-core's `nextFrame`, also in
 * `model.fit`'s callbacks), and a hidden tab runs no animation frames: with
 * three participant tabs in one window, only the visible one would train and
 * the others would miss every update phase. So, while the page is hidden, a
 * frame request is answered by a message-channel task instead (not throttled
 * like timers in background tabs). tfjs-core captures `requestAnimationFrame`
 * when it loads, so this module must be imported before anything that
 * imports TensorFlow.js. The page's own trainer yields through a
 * message-channel task instead (trainer.ts, event-loop.ts); this covers any
 * other caller of tfjs's `nextFrame`.
 */

const native = window.requestAnimationFrame.bind(window);
const nativeCancel = window.cancelAnimationFrame.bind(window);
const channel = new MessageChannel();
const queue = new Map<number, FrameRequestCallback>();
// Ids of our own, far from the browser's (small positive integers).
let nextId = 1 << 30;

channel.port1.onmessage = (event: MessageEvent<number>) => {
  const callback = queue.get(event.data);
  if (callback === undefined) return;
  queue.delete(event.data);
  callback(performance.now());
};

window.requestAnimationFrame = (callback: FrameRequestCallback): number => {
  if (!document.hidden) return native(callback);
  const id = nextId++;
  queue.set(id, callback);
  channel.port2.postMessage(id);
  return id;
};

window.cancelAnimationFrame = (id: number): void => {
  if (!queue.delete(id)) nativeCancel(id);
};
