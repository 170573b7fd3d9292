import { FIXTURE_CONFIG } from '@petfl/core/testing';
import { describe, expect, it } from 'vitest';
import type { RoundPetSettings, RoundRecord } from '../store/coordinator-store.ts';
import type { CoordinatorEvent, CoordinatorState, Counts, Effect } from './state.ts';
import { transition } from './transition.ts';

const phase = (min: number, max: number, minMs: number, maxMs: number) => ({
  count: { min, max },
  time: { minMs, maxMs },
});
const PET: RoundPetSettings = {
  sum: { probability: 0.5, ...phase(3, 10, 1000, 5000) },
  update: { probability: 0.9, ...phase(3, 100, 2000, 10_000) },
  sum2: phase(3, 10, 0, 4000),
};

const T0 = 1_000_000;

function record(over: Partial<RoundRecord> = {}): RoundRecord {
  return {
    v: 1,
    roundId: 7,
    phase: 'sum',
    startedAt: T0,
    phaseStartedAt: T0,
    phaseDurationsMs: {},
    roundPublicKey: new Uint8Array(32),
    roundSecretKey: new Uint8Array(32),
    seed: new Uint8Array(32),
    pet: PET,
    maskConfig: FIXTURE_CONFIG,
    modelLength: 4,
    ...over,
  };
}

const idle: CoordinatorState = { kind: 'idle', lastRoundId: 6, paused: false };
const counts = (sum: number, update = 0, sum2 = 0): Counts => ({ sum, update, sum2 });
const kinds = (effects: readonly Effect[]) => effects.map((e) => e.kind);

/** Runs events from `state`, returning the last transition. */
function run(state: CoordinatorState, ...events: CoordinatorEvent[]) {
  let result = { state, effects: [] as readonly Effect[] };
  for (const event of events) result = transition(result.state, event);
  return result;
}

describe('transition: idle', () => {
  it('asks for the next round; roundStarted enters the sum phase and sets the timer for time.min', () => {
    const asked = transition(idle, { type: 'tick', now: T0 });
    expect(asked.effects).toEqual([{ kind: 'openRound', roundId: 7, now: T0 }]);
    const started = transition(asked.state, { type: 'roundStarted', record: record(), now: T0 });
    expect(started.state).toMatchObject({ kind: 'sum', lastRoundId: 7, round: { counts: counts(0) } });
    expect(started.effects).toEqual([{ kind: 'wakeIn', ms: 1000 }]);
  });

  it('paused: asks for nothing; resume asks for the round', () => {
    const paused = transition(idle, { type: 'pause' });
    expect(transition(paused.state, { type: 'tick', now: T0 }).effects).toEqual([]);
    expect(kinds(transition(paused.state, { type: 'resume', now: T0 }).effects)).toEqual(['openRound']);
  });
});

describe('transition: accepting phases', () => {
  const inSum = run(idle, { type: 'roundStarted', record: record(), now: T0 }).state;

  it('stays open before time.min, whatever the count below count.max', () => {
    const r = transition(inSum, { type: 'accepted', counts: counts(5), now: T0 + 500 });
    expect(r.state.kind).toBe('sum');
    expect(r.effects).toEqual([{ kind: 'wakeIn', ms: 500 }]);
  });

  it('ends the sum phase at count.max: the record is saved with the update phase before it is committed', () => {
    const r = transition(inSum, { type: 'accepted', counts: counts(10), now: T0 + 300 });
    expect(r.state).toMatchObject({ kind: 'update', round: { record: { phase: 'update', phaseStartedAt: T0 + 300 } } });
    expect(r.effects[0]).toMatchObject({
      kind: 'saveRound',
      ended: 'sum',
      record: { phase: 'update', phaseDurationsMs: { sum: 300 } },
    });
    expect(kinds(r.effects)).toEqual(['saveRound', 'dropChunks', 'phaseEnded', 'wakeIn']);
  });

  it('ends after time.min once count.min are in', () => {
    const r = transition(inSum, { type: 'tick', now: T0 + 1000 });
    expect(r.state.kind).toBe('sum'); // 0 in: wait until time.max
    expect(r.effects).toEqual([{ kind: 'wakeIn', ms: 4000 }]);
    const ended = transition(r.state, { type: 'accepted', counts: counts(3), now: T0 + 1200 });
    expect(ended.state.kind).toBe('update');
  });

  it('fails the round at time.max short of count.min, with the reason and counts in the summary, and asks for the next', () => {
    const r = run(inSum, { type: 'accepted', counts: counts(2), now: T0 + 100 }, { type: 'tick', now: T0 + 5000 });
    expect(r.state).toEqual({ kind: 'idle', lastRoundId: 7, paused: false });
    expect(r.effects).toEqual([
      {
        kind: 'endRound',
        summary: {
          roundId: 7,
          outcome: 'failed',
          failureReason: 'sum phase timed out: 2 messages accepted, at least 3 needed within 5000 ms',
          startedAt: T0,
          endedAt: T0 + 5000,
          phaseDurationsMs: { sum: 5000 },
          participants: { sum: 2, update: 0, sum2: 0 },
        },
      },
      { kind: 'openRound', roundId: 8, now: T0 + 5000 },
    ]);
  });

  it('a failed round while paused asks for no next round', () => {
    const paused = transition(inSum, { type: 'pause' }).state;
    const r = transition(paused, { type: 'tick', now: T0 + 5000 });
    expect(kinds(r.effects)).toEqual(['endRound']);
    expect(r.state).toEqual({ kind: 'idle', lastRoundId: 7, paused: true });
  });

  it('sum2 waits for a majority of the sum dictionary, even past its time.min', () => {
    const s2 = run(
      idle,
      { type: 'roundStarted', record: record(), now: T0 },
      { type: 'accepted', counts: counts(10), now: T0 + 10 },
      { type: 'accepted', counts: counts(10, 100), now: T0 + 20 },
    );
    expect(s2.state.kind).toBe('sum2');
    // 10 sum participants: a majority is 6; count.min 3 is not enough.
    expect(transition(s2.state, { type: 'accepted', counts: counts(10, 100, 3), now: T0 + 100 }).state.kind).toBe(
      'sum2',
    );
    const ended = transition(s2.state, { type: 'accepted', counts: counts(10, 100, 6), now: T0 + 100 });
    expect(ended.state.kind).toBe('unmask');
    expect(kinds(ended.effects)).toEqual(['dropChunks', 'phaseEnded', 'unmask']);
    expect(ended.state).toMatchObject({ round: { record: { phase: 'sum2', phaseDurationsMs: { sum2: 80 } } } });
  });

  it('counts for a phase that is not accepting are ignored', () => {
    expect(transition(idle, { type: 'accepted', counts: counts(3), now: T0 })).toEqual({ state: idle, effects: [] });
  });
});

describe('transition: unmask', () => {
  const unmasking = run(
    idle,
    { type: 'roundStarted', record: record(), now: T0 },
    { type: 'accepted', counts: counts(10), now: T0 + 10 },
    { type: 'accepted', counts: counts(10, 100), now: T0 + 20 },
    { type: 'accepted', counts: counts(10, 100, 10), now: T0 + 30 },
  ).state;

  it('completed: records unmask time and the summary, asks for the next round', () => {
    const r = transition(unmasking, { type: 'unmasked', outcome: { kind: 'completed' }, now: T0 + 250 });
    expect(r.state.kind).toBe('idle');
    expect(r.effects).toEqual([
      { kind: 'phaseEnded', phase: 'unmask', durationMs: 220 },
      {
        kind: 'endRound',
        summary: {
          roundId: 7,
          outcome: 'completed',
          startedAt: T0,
          endedAt: T0 + 250,
          phaseDurationsMs: { sum: 10, update: 10, sum2: 10, unmask: 220 },
          participants: { sum: 10, update: 100, sum2: 10 },
        },
      },
      { kind: 'openRound', roundId: 8, now: T0 + 250 },
    ]);
  });

  it('failed with offenders: the round fails naming them', () => {
    const r = transition(unmasking, {
      type: 'unmasked',
      outcome: { kind: 'failed', reason: 'seeds', offenders: ['pk1'] },
      now: T0 + 40,
    });
    expect(r.effects[0]).toMatchObject({
      kind: 'endRound',
      offenders: ['pk1'],
      summary: { outcome: 'failed', failureReason: 'seeds' },
    });
  });

  it('a tick while unmasking (the task failed) asks for the task again', () => {
    expect(transition(unmasking, { type: 'tick', now: T0 + 2000 }).effects).toEqual([{ kind: 'unmask' }]);
  });
});

describe('transition: start-up and shutdown', () => {
  it('continues a found round within its deadline: restore, then judge it', () => {
    const found = record({ phase: 'update', phaseStartedAt: T0 });
    const r = transition(idle, { type: 'found', record: found, now: T0 + 1000 });
    expect(r.state.kind).toBe('restoring');
    expect(r.effects).toEqual([{ kind: 'restoreRound', record: found }]);
    const restored = transition(r.state, { type: 'restored', counts: counts(4, 1), now: T0 + 1000 });
    expect(restored.state).toMatchObject({ kind: 'update', round: { counts: counts(4, 1) } });
    expect(restored.effects).toEqual([{ kind: 'wakeIn', ms: 1000 }]);
  });

  it('fails a found round past its phase deadline and starts the next', () => {
    const found = record({ roundId: 9, phase: 'update', phaseStartedAt: T0 });
    const r = transition(idle, { type: 'found', record: found, now: T0 + 10_000 });
    expect(r.effects).toEqual([
      {
        kind: 'endRound',
        summary: expect.objectContaining({
          roundId: 9,
          outcome: 'failed',
          failureReason: 'coordinator restarted after the update phase deadline (10000 ms) of round 9',
        }),
      },
      { kind: 'openRound', roundId: 10, now: T0 + 10_000 },
    ]);
  });

  it('a restore that fails fails the round with the reason', () => {
    const restoring = transition(idle, { type: 'found', record: record(), now: T0 }).state;
    const r = transition(restoring, { type: 'restoreFailed', reason: 'corrupt', now: T0 + 1 });
    expect(r.effects[0]).toMatchObject({ kind: 'endRound', summary: { outcome: 'failed', failureReason: 'corrupt' } });
    expect(r.state.kind).toBe('idle');
  });

  it('shutdown cancels the timer and ignores everything after', () => {
    const inSum = transition(idle, { type: 'roundStarted', record: record(), now: T0 }).state;
    const down = transition(inSum, { type: 'shutdown' });
    expect(down.state).toMatchObject({ kind: 'shutdown', round: { record: { roundId: 7 } } });
    expect(down.effects).toEqual([{ kind: 'cancelTimer' }]);
    for (const event of [
      { type: 'tick', now: T0 + 100_000 },
      { type: 'accepted', counts: counts(10), now: T0 },
      { type: 'resume', now: T0 },
    ] as const) {
      expect(transition(down.state, event)).toEqual({ state: down.state, effects: [] });
    }
  });
});
