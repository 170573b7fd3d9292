/**
 * `@petfl/sdk/react` — `useParticipant(observable)`: a participant's
 * snapshot in a React component, through `useSyncExternalStore`
 * (architecture.md §7.4). The component re-renders exactly when the snapshot
 * changes; the snapshot is stable, so React never sees a "new" value that
 * is the same. Pass null/undefined while the participant is being spawned.
 */

import { useCallback, useSyncExternalStore } from 'react';
import type { Observable, ParticipantSnapshot } from '../snapshot.ts';

export function useParticipant(observable: Observable): ParticipantSnapshot;
export function useParticipant(observable: Observable | null | undefined): ParticipantSnapshot | null;
export function useParticipant(observable: Observable | null | undefined): ParticipantSnapshot | null {
  // Bound per observable: React resubscribes only when the observable itself changes.
  const subscribe = useCallback(
    (listener: () => void) => (observable == null ? () => {} : observable.subscribe(listener)),
    [observable],
  );
  const getSnapshot = useCallback(() => (observable == null ? null : observable.getSnapshot()), [observable]);
  return useSyncExternalStore(subscribe, getSnapshot, getSnapshot);
}
