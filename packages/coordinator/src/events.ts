/**
 * Several watchers of one coordinator (metrics, an embedder's own hooks):
 * `combineEvents` makes one `CoordinatorEvents` that calls each watcher's
 * hook in turn. A hook that throws is reported and the others still run:
 * a metrics bug must never fail an accepted message.
 */

import type { CoordinatorEvents } from './state-machine/coordinator.ts';

type Hook = keyof CoordinatorEvents;

export function combineEvents(
  watchers: readonly (CoordinatorEvents | undefined)[],
  onError: (error: unknown, hook: Hook) => void,
): CoordinatorEvents {
  const present = watchers.filter((events): events is CoordinatorEvents => events !== undefined);
  const call = (hook: Hook, args: unknown[]): void => {
    for (const events of present) {
      const fn = events[hook] as ((...args: unknown[]) => void) | undefined;
      if (fn === undefined) continue;
      try {
        fn.apply(events, args);
      } catch (error) {
        onError(error, hook);
      }
    }
  };
  // `satisfies Required<…>`: a hook added to CoordinatorEvents cannot compile until it is passed on here.
  return {
    messageAccepted: (...args) => call('messageAccepted', args),
    messageRejected: (...args) => call('messageRejected', args),
    phaseEnded: (...args) => call('phaseEnded', args),
    roundEnded: (...args) => call('roundEnded', args),
    seedDictionaryRead: (...args) => call('seedDictionaryRead', args),
  } satisfies Required<CoordinatorEvents>;
}
