// @vitest-environment happy-dom
/**
 * useParticipant under happy-dom with react-dom/client and act: the component
 * re-renders when the snapshot changes, and only then.
 */

import { act, createElement, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { afterEach, describe, expect, it } from 'vitest';
import type { Observable, ParticipantSnapshot } from '../snapshot.ts';
import { useParticipant } from './use-participant.ts';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

/** An Observable the test drives: `emit` notifies, `set` replaces the snapshot and notifies. */
class Driven implements Observable {
  snapshot: ParticipantSnapshot = Object.freeze({
    participantPk: 'A'.repeat(43),
    phase: 'awaiting',
    task: 'none',
    roundId: 1,
    training: false,
    bytesSent: 0,
    lastError: null,
  });
  readonly listeners = new Set<() => void>();
  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };
  getSnapshot = (): ParticipantSnapshot => this.snapshot;
  emit(): void {
    for (const listener of [...this.listeners]) listener();
  }
  set(change: Partial<ParticipantSnapshot>): void {
    this.snapshot = Object.freeze({ ...this.snapshot, ...change });
    this.emit();
  }
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function mount(render: () => ReturnType<typeof createElement>): HTMLElement {
  const container = document.createElement('div');
  document.body.append(container);
  const root = createRoot(container);
  act(() => root.render(render()));
  cleanups.push(() => {
    act(() => root.unmount());
    container.remove();
  });
  return container;
}

describe('useParticipant', () => {
  it('re-renders when the snapshot changes, not when it stays the same object', () => {
    const participant = new Driven();
    const renders: ParticipantSnapshot[] = [];
    function Status() {
      const snapshot = useParticipant(participant);
      renders.push(snapshot);
      return createElement('p', null, `round ${snapshot.roundId}: ${snapshot.phase}`);
    }
    const container = mount(() => createElement(Status));
    expect(container.textContent).toBe('round 1: awaiting');
    expect(renders).toHaveLength(1);

    act(() => participant.set({ roundId: 2, phase: 'update', task: 'update' }));
    expect(container.textContent).toBe('round 2: update');
    expect(renders).toHaveLength(2);

    act(() => participant.emit()); // a notification without a change
    expect(renders).toHaveLength(2);

    act(() => participant.set({ phase: 'stopped' }));
    expect(container.textContent).toBe('round 2: stopped');
    expect(renders.at(-1)).toBe(participant.snapshot);
  });

  it('accepts null while the participant is being spawned, then subscribes once it is there', () => {
    const participant = new Driven();
    let setObservable: (o: Observable | null) => void = () => {};
    function Status() {
      const [observable, set] = useState<Observable | null>(null);
      setObservable = set;
      const snapshot = useParticipant(observable);
      return createElement('p', null, snapshot === null ? 'starting' : snapshot.phase);
    }
    const container = mount(() => createElement(Status));
    expect(container.textContent).toBe('starting');
    expect(participant.listeners.size).toBe(0);
    act(() => setObservable(participant));
    expect(container.textContent).toBe('awaiting');
    expect(participant.listeners.size).toBe(1);
    act(() => participant.set({ phase: 'sum' }));
    expect(container.textContent).toBe('sum');
  });

  it('unsubscribes on unmount', () => {
    const participant = new Driven();
    function Status() {
      return createElement('p', null, useParticipant(participant).phase);
    }
    mount(() => createElement(Status));
    expect(participant.listeners.size).toBe(1);
    for (const cleanup of cleanups.splice(0)) cleanup();
    expect(participant.listeners.size).toBe(0);
  });
});
