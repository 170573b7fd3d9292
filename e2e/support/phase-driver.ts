/**
 * The phase driver: every e2e test's coordinator runs on a driven clock (support/hold-clock.ts),
 * so no phase ends because time passed. The driver watches the coordinator and the tabs (and the
 * test's headless Node participants, if it started any: they count as tabs here) and ends each
 * phase itself once the tabs are done with it — however long they took:
 *
 * - sum: every tab knows its task in the round, and no sum participant is still to send its Sum;
 * - update: no update participant of the round is still training, masking or sending;
 * - sum2: it ends by itself once a majority of the sum participants sent their Sum2 (time.min
 *   0); the driver only fails it once no sum participant of the round is left to send one
 *   (one closed, or gave up).
 *
 * It then moves the clock to the phase's time.min when count.min is in (the phase ends as a
 * timed one would) or to its time.max when not (it fails with the coordinator's own
 * "… phase timed out: … at least … needed" reason: the task selection left too few, protocol.md
 * §1.3), and lets time run until the coordinator's next phase boundary. A test that holds the
 * clock (`coordinator.clock.hold()`) keeps the driver off until its `release()`; one that wants
 * something done in every phase registers `beforeEnd`, which the driver awaits with the phase
 * still open. While tabs are being opened it waits for them, so the first round has them all.
 *
 * A backstop ends a phase the tabs have not finished after `backstopMs` (a hung tab); it is
 * reported (`forced`), never relied on.
 */

import type { CoordinatorStatus } from '@petfl/coordinator';
import type { E2ECoordinator } from './coordinator.ts';
import type { ParticipantSnapshot } from './tab.ts';

export type DrivenPhase = 'sum' | 'update' | 'sum2';

export interface PhaseEnd {
  readonly roundId: number;
  readonly phase: DrivenPhase;
  /** 'end': the clock goes to time.min, count.min is in; 'fail': to time.max, it is not. */
  readonly to: 'end' | 'fail';
}

/** What the driver reads of a participant: a tab (support/tab.ts), or a Node participant. */
export interface DrivenParticipant {
  readonly closed: boolean;
  snapshot(): Promise<ParticipantSnapshot | null>;
}

export interface DriverSources {
  /** The test's tabs and Node participants (closed ones are left out). */
  tabs(): readonly DrivenParticipant[];
  /** Whether a tab is being opened: the driver waits until it has joined. */
  opening(): boolean;
}

/** Long enough for any tab on any machine to finish a phase; only a hung one meets it. */
export const DEFAULT_BACKSTOP_MS = 5 * 60_000;
const INTERVAL_MS = 100;
/** A page that does not answer within this is taken as not done (so the backstop still runs). */
const SNAPSHOT_TIMEOUT_MS = 30_000;

/** An error with its causes (fetch's "fetch failed" says why only in `cause`). */
function describe(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e !== undefined && parts.length < 4; e = (e as { cause?: unknown }).cause) {
    parts.push(e instanceof Error ? `${e.name}: ${e.message}${'code' in e ? ` (${String(e.code)})` : ''}` : String(e));
    if (typeof e !== 'object' || e === null) break;
  }
  return parts.join(' ← ');
}

/** The tab's snapshot; null when it cannot be read (a page reloading, closing or not answering). */
async function readSnapshot(tab: DrivenParticipant): Promise<ParticipantSnapshot | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((done) => {
    timer = setTimeout(() => done(null), SNAPSHOT_TIMEOUT_MS);
  });
  try {
    return await Promise.race([tab.snapshot().catch(() => null), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function isDriven(phase: string): phase is DrivenPhase {
  return phase === 'sum' || phase === 'update' || phase === 'sum2';
}

/** Whether the tabs are done with `phase` of round `roundId` (null: a tab that could not be read, e.g. reloading). */
export function tabsDone(
  phase: DrivenPhase,
  roundId: number,
  snapshots: readonly (ParticipantSnapshot | null)[],
): boolean {
  const sending = (s: ParticipantSnapshot, task: string, phases: readonly string[]) =>
    s.roundId === roundId && s.task === task && phases.includes(s.phase);
  switch (phase) {
    case 'sum':
      return snapshots.every(
        (s) => s !== null && s.roundId === roundId && s.phase !== 'new-round' && !sending(s, 'sum', ['sum', 'sending']),
      );
    case 'update':
      return snapshots.every((s) => s !== null && !sending(s, 'update', ['update', 'sending']));
    case 'sum2':
      return snapshots.every((s) => s !== null && !sending(s, 'sum', ['sum2', 'sending']));
  }
}

export class PhaseDriver {
  /** Phases the backstop ended before the tabs were done with them. */
  readonly forced: string[] = [];
  /** Every phase the driver ended: `<round>.<phase> end|fail`, in order. */
  readonly ended: string[] = [];
  /** What went wrong in a `beforeEnd` hook or in the driver itself (the fixture fails the test on it). */
  readonly errors: string[] = [];
  private readonly coordinator: E2ECoordinator;
  private readonly sources: DriverSources;
  private readonly backstopMs: number;
  private readonly hooks: ((end: PhaseEnd) => Promise<void> | void)[] = [];
  private current: { key: string; since: number; hooked: boolean } | undefined;
  private stopping = false;
  private readonly loop: Promise<void>;

  constructor(coordinator: E2ECoordinator, sources: DriverSources, backstopMs = DEFAULT_BACKSTOP_MS) {
    this.coordinator = coordinator;
    this.sources = sources;
    this.backstopMs = backstopMs;
    coordinator.clock.drive();
    this.loop = this.run();
  }

  /** `hook` runs once in every sum, update and sum2 phase the driver ends, the phase still open. */
  beforeEnd(hook: (end: PhaseEnd) => Promise<void> | void): void {
    this.hooks.push(hook);
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
        this.errors.push(`driver: ${describe(error)}`);
      }
      await new Promise((done) => setTimeout(done, INTERVAL_MS));
    }
  }

  private async tick(): Promise<void> {
    const { clock } = this.coordinator;
    if (clock.held || clock.running) return;
    const status = this.coordinator.status();
    const { roundId, phase } = status;
    if (roundId === null || !isDriven(phase) || status.deadlines === null) return;
    const key = `${roundId}.${phase}`;
    if (this.current?.key !== key) this.current = { key, since: Date.now(), hooked: false };
    const current = this.current;
    const tabs = this.sources.tabs().filter((t) => !t.closed);
    if (this.sources.opening() || tabs.length === 0) {
      current.since = Date.now();
      return;
    }
    const snapshots = await Promise.all(tabs.map((t) => readSnapshot(t)));
    const backstop = !tabsDone(phase, roundId, snapshots);
    if (backstop && Date.now() - current.since <= this.backstopMs) return;
    // A tab's message counts once the tab has its answer (the coordinator answers after accepting
    // it), so the counts are final here. The sum2 phase still open with every sum participant done
    // is short of its majority (phases/sum2.ts: count.min is at least that): it fails.
    const count = (s: CoordinatorStatus) =>
      phase !== 'sum2' && s.counts[phase] >= (s.settings.round?.[phase].count.min ?? 1);
    if (!current.hooked) {
      current.hooked = true;
      for (const hook of this.hooks) {
        try {
          await hook({ roundId, phase, to: count(this.coordinator.status()) ? 'end' : 'fail' });
        } catch (error) {
          this.errors.push(`beforeEnd ${key}: ${describe(error)}`);
        }
      }
      return; // judged afresh on the next tick
    }
    // Ended only if nothing moved meanwhile: the same phase, nobody holding, time stopped.
    const now = this.coordinator.status();
    if (clock.held || clock.running || now.roundId !== roundId || now.phase !== phase || now.deadlines === null) return;
    const to = count(now) ? 'end' : 'fail';
    this.ended.push(`${key} ${to}`);
    if (backstop) this.forced.push(`${key} ${to} after ${Date.now() - current.since} ms: ${JSON.stringify(snapshots)}`);
    clock.runFrom(to === 'end' ? now.deadlines.minAt : now.deadlines.maxAt);
  }
}
