/**
 * The participant page's scoring Worker (remote-scorer.ts starts it and holds the messages): it
 * answers each model the page sends with its loss and accuracy on the examples the page gave it,
 * one after another, off the page's main thread.
 */

import { type FromScorer, ScoringService, type ToScorer } from './remote-scorer.ts';

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<ToScorer>) => void) | null;
  postMessage(message: FromScorer): void;
};

const service = new ScoringService();
scope.onmessage = (event) => {
  const answer = service.answer(event.data);
  if (answer !== undefined) scope.postMessage(answer);
};
