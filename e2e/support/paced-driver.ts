/**
 * The paced driver: rounds as long as the demo's configured phase times, with no race against
 * the machine's speed for the protocol's own work. Like the phase driver
 * (support/phase-driver.ts) it runs the coordinator's driven clock (support/hold-clock.ts), so
 * no phase ends because time passed while a participant was in the middle of the protocol;
 * unlike it, it does not wait for training. A phase ends once
 *
 * - its configured time.min has passed by the wall clock since it opened (the round length a
 *   demo run has: the time the tabs have to train), and
 * - no participant — tab or Node — has protocol work left in it: sum: every participant knows
 *   its task in the round and every sum participant has sent its Sum; update: every update
 *   participant has sent its update, or is still training (the snapshot's `training`: waiting
 *   for its local model), which is what is measured, not waited for; sum2: every sum
 *   participant has sent its Sum2.
 *
 * It then ends the phase as a timed one would (the clock goes to time.min) when its minimum
 * count is in; when not, it waits for it until time.max has passed by the wall clock and
 * then fails the phase (the clock goes to time.max), as the coordinator would. A participant
 * that never finishes its protocol work (a hung one) is passed over after `backstopMs` and
 * reported in `forced`. The driver records every participant's task in every round it saw.
 */

import type { E2ECoordinator } from './coordinator.ts';
import type { ParticipantSnapshot } from './tab.ts';

type Phase = 'sum' | 'update' | 'sum2';

export interface PacedParticipant {
  readonly name: string;
  /** The latest snapshot; null when it cannot be read (the phase is then not ended). */
  snapshot(): Promise<ParticipantSnapshot | null>;
}

const INTERVAL_MS = 100;
const DEFAULT_BACKSTOP_MS = 2 * 60_000;

/** Whether `s` has protocol work left in `phase` of round `roundId` (training is not protocol work). */
export function protocolPending(phase: Phase, roundId: number, s: ParticipantSnapshot | null): boolean {
  if (s === null) return true;
  const mine = s.roundId === roundId;
  switch (phase) {
    case 'sum':
      return !mine || s.phase === 'new-round' || (s.task === 'sum' && (s.phase === 'sum' || s.phase === 'sending'));
    case 'update':
      return mine && s.task === 'update' && (s.phase === 'sending' || (s.phase === 'update' && !s.training));
    case 'sum2':
      return mine && s.task === 'sum' && (s.phase === 'sum2' || s.phase === 'sending');
  }
}

export class PacedDriver {
  /** Every phase ended: `<round>.<phase> end|fail after <ms> ms`. */
  readonly ended: string[] = [];
  /** Phases ended by the backstop with a participant's protocol work unfinished. */
  readonly forced: string[] = [];
  readonly errors: string[] = [];
  /** participant name → round → task, as their snapshots showed. */
  readonly tasks = new Map<string, Map<number, ParticipantSnapshot['task']>>();
  private readonly coordinator: E2ECoordinator;
  private readonly participants: () => readonly PacedParticipant[];
  private readonly backstopMs: number;
  private current: { key: string; since: number } | undefined;
  private stopping = false;
  private readonly loop: Promise<void>;

  constructor(
    coordinator: E2ECoordinator,
    participants: () => readonly PacedParticipant[],
    backstopMs = DEFAULT_BACKSTOP_MS,
  ) {
    this.coordinator = coordinator;
    this.participants = participants;
    this.backstopMs = backstopMs;
    coordinator.clock.drive();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.tick();
      } catch (error) {
        this.errors.push(`paced driver: ${error instanceof Error ? error.message : String(error)}`);
      }
      await new Promise((done) => setTimeout(done, INTERVAL_MS));
    }
  }

  private async tick(): Promise<void> {
    const { clock } = this.coordinator;
    if (clock.held || clock.running) return;
    const status = this.coordinator.status();
    const { roundId, phase, deadlines } = status;
    const rules = status.settings.round;
    if (roundId === null || deadlines === null || rules === null) return;
    if (phase !== 'sum' && phase !== 'update' && phase !== 'sum2') return;
    const key = `${roundId}.${phase}`;
    if (this.current?.key !== key) this.current = { key, since: Date.now() };
    const elapsed = Date.now() - this.current.since;

    const participants = this.participants();
    if (participants.length === 0) {
      this.current.since = Date.now(); // nobody yet: the phase waits for them
      return;
    }
    const snapshots = await Promise.all(participants.map((p) => p.snapshot().catch(() => null)));
    snapshots.forEach((s, i) => {
      const name = participants[i]?.name ?? String(i);
      if (s === null || s.roundId === null || s.task === 'none') return;
      const rounds = this.tasks.get(name) ?? new Map<number, ParticipantSnapshot['task']>();
      this.tasks.set(name, rounds);
      rounds.set(s.roundId, s.task);
    });
    const pending = participants.filter((_, i) => protocolPending(phase, roundId, snapshots[i] ?? null));
    const forced = pending.length > 0;
    if (forced && elapsed <= this.backstopMs) return;
    if (elapsed < rules[phase].time.minMs) return;

    const now = this.coordinator.status();
    if (clock.held || clock.running || now.roundId !== roundId || now.phase !== phase || now.deadlines === null) return;
    const needed =
      phase === 'sum2' ? Math.max(rules.sum2.count.min, Math.floor(now.counts.sum / 2) + 1) : rules[phase].count.min;
    let to: 'end' | 'fail';
    if (now.counts[phase] >= needed) to = 'end';
    else if (elapsed >= rules[phase].time.maxMs) to = 'fail';
    else return; // short of its minimum count: it waits for more until time.max, as a timed phase does
    this.ended.push(`${key} ${to} after ${elapsed} ms (${now.counts[phase]} of ${needed})`);
    if (forced) this.forced.push(`${key}: ${pending.map((p) => p.name).join(', ')} unfinished`);
    clock.runFrom(to === 'end' ? now.deadlines.minAt : now.deadlines.maxAt);
  }
}
