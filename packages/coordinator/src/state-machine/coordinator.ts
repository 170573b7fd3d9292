/**
 * The coordinator's round state machine (protocol.md §1): idle → sum →
 * update → sum2 → unmask → idle, failure → a fresh round, shutdown.
 *
 * The lifecycle itself is a pure reducer (transition.ts over state.ts); this
 * class is its shell. It holds the round's data (round.ts: dictionaries, the
 * aggregate, the chunk assembler, the round key pair), runs the message
 * pipeline and the phase handlers (phases/sum.ts, update.ts, sum2.ts), and
 * applies the reducer's effects: store writes before the new state is
 * committed, then the phase timer, the round's opening and its unmasking.
 *
 * Every change — an accepted message, a timer, an operator command — runs
 * through one serializing queue, so handlers never interleave across their
 * store awaits. Opening a message (decrypt, verify, decode) is pure CPU work
 * done before the queue, in this thread or on worker threads (ingest.ts);
 * messages take their turns — the cheap checks against the round, then the
 * queue — in the order they arrived, whichever one's work finished first, and
 * the handler re-checks that the round it was opened for is still the round in
 * progress.
 */

import {
  type Chunk,
  decodeChunk,
  encodeGlobalModel,
  encodeSumDict,
  type GlobalModel,
  isPetError,
  type MessageTag,
  MIN_CHUNK_COST,
  movedOnWithinRound,
  type OpenedFrame,
  type Payload,
  type PetCrypto,
  PetError,
  type RoundPrivacy,
  TAGS,
  toBase64Url,
} from '@petfl/core';
import { type Clock, systemClock } from '../clock.ts';
import { CoordinatorError } from '../errors.ts';
import { type Logger, pkTag, silentLogger } from '../logger.ts';
import type { EvaluationRecord } from '../run/checkpoint.ts';
import { runRoundPrivacy } from '../run/round-privacy.ts';
import { type RunInfo, RunKeeper, type RunReport } from '../run/run-keeper.ts';
import type { RunPoint } from '../run/training-run.ts';
import { changePetSettings, type Settings } from '../settings.ts';
import {
  BANNED_LIMIT,
  type CoordinatorMeta,
  type CoordinatorStore,
  DEFAULT_META,
  type LivePhase,
  type RoundPetSettings,
  type RoundRecord,
  type RoundSummary,
  type StoreNotice,
} from '../store/coordinator-store.ts';
import type { ModelStore } from '../store/model-store.ts';
import { type EligibilityVerdict, eligibilityFacts } from './eligibility.ts';
import { InOrder } from './in-order.ts';
import { inProcessIngest, type MessageIngest } from './ingest.ts';
import { acceptSum, checkSumEligible } from './phases/sum.ts';
import { acceptSum2, checkSum2Eligible, checkSum2Sender } from './phases/sum2.ts';
import { unmaskRound } from './phases/unmask.ts';
import { acceptUpdate, checkUpdateEligible } from './phases/update.ts';
import {
  checkpointPartial,
  chunkBudget,
  closeRound,
  type LiveRound,
  openRound,
  reloadRound,
  restoreRound,
  updateSeedDictBytes,
} from './round.ts';
import {
  assertNever,
  type CoordinatorEvent,
  type CoordinatorState,
  type Effect,
  isAccepting,
  NO_COUNTS,
  type Phase,
  phaseOf,
  roundOf,
  WRITES,
} from './state.ts';
import { transition } from './transition.ts';

export type { Phase } from './state.ts';

/** Hooks for metrics (and anything else that watches the coordinator). */
export interface CoordinatorEvents {
  messageAccepted?(tag: MessageTag | 'chunk', bytes: number): void;
  messageRejected?(code: string, bytes: number): void;
  phaseEnded?(phase: LivePhase | 'unmask', durationMs: number): void;
  roundEnded?(summary: RoundSummary): void;
  /** A sum participant read its seed dictionary: the final one, or the seeds so far (ADR 0017). */
  seedDictionaryRead?(dictionary: 'final' | 'so-far'): void;
}

export interface CoordinatorDeps {
  readonly crypto: PetCrypto;
  readonly settings: Settings;
  readonly store: CoordinatorStore;
  readonly models: ModelStore;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly events?: CoordinatorEvents;
  /**
   * This instance's name in the store's update logs (ADR 0008); a fresh random one by default,
   * so a restarted process never appends to a log it did not write.
   */
  readonly instance?: string;
  /**
   * Several instances on one store (ADR 0008): the instance holding the store's lease leads —
   * ends phases, starts rounds, unmasks — and the others follow the round from the store's
   * notices. Without it this coordinator is the only one on its store and always leads.
   */
  readonly cluster?: ClusterOptions;
  /**
   * Where messages are opened and decoded (ingest.ts): this thread unless given — on Node, a pool
   * of worker threads (node/ingest-pool.ts). The caller owns it (and closes it after `shutdown`).
   */
  readonly ingest?: MessageIngest;
  /**
   * A training run's initial global model (`run.initial_model`, read by the CLI; docs/learning.md
   * §4): P weights, or 2P with SCAFFOLD's control variate. Zeros when absent.
   */
  readonly initialModel?: ArrayLike<number>;
}

export interface ClusterOptions {
  /** The leader renews its lease every leaseMs / 3; another instance takes over within leaseMs of its end. */
  readonly leaseMs: number;
  /** Updates an instance takes between checkpoints of its partial aggregate (default CHECKPOINT_EVERY). */
  readonly checkpointEvery?: number;
}

/** What the HTTP layer knows of a message's sender (docs/security.md §2). */
export interface MessageContext {
  /** The subject of the sender's verified admission token (token admission), else undefined. */
  readonly subject?: string | undefined;
  /**
   * The caller gives the sealed bytes' buffer up (the HTTP body it read): the coordinator may move
   * it to a worker thread instead of copying it, which leaves the caller's array detached, and
   * opens the message over those bytes.
   */
  readonly handOver?: boolean | undefined;
}

/** What `POST /message` accepted: a whole message, or one chunk of a multipart message. */
export type Accepted = { readonly kind: 'message'; readonly tag: MessageTag } | { readonly kind: 'chunk' };

/** `GET /admin/status`. */
export interface CoordinatorStatus {
  /** This instance's name in the store's update logs, and whether it leads (ADR 0008). */
  readonly instance: string;
  readonly role: 'leader' | 'follower';
  readonly roundId: number | null;
  readonly phase: Phase;
  readonly paused: boolean;
  readonly roundStartedAt: number | null;
  readonly phaseStartedAt: number | null;
  /** When the current phase may end early (time.min) and when it fails (time.max), ms since the epoch. */
  readonly deadlines: { readonly minAt: number; readonly maxAt: number } | null;
  /** Accepted messages in the round in progress, per phase. */
  readonly counts: { readonly sum: number; readonly update: number; readonly sum2: number };
  /** Since the coordinator started: accepted messages per tag, rejected ones per code. */
  readonly messages: {
    readonly accepted: Readonly<Record<string, number>>;
    readonly rejected: Readonly<Record<string, number>>;
  };
  readonly latestModelRoundId: number | null;
  /** Incomplete multipart messages held for the round in progress, and their bytes as charged. */
  readonly chunks: { readonly pendingMessages: number; readonly bytesHeld: number };
  /** Participant keys and admission subjects excluded for sending unopenable mask seeds. */
  readonly banned: { readonly participants: number; readonly subjects: number };
  /** The training run (docs/learning.md), or null without one. */
  readonly run: RunInfo | null;
  readonly settings: {
    readonly round: RoundPetSettings | null;
    readonly next: RoundPetSettings;
    readonly mask: Settings['mask'];
    readonly modelLength: number;
  };
  readonly startedAt: number;
}

/** Keeps the key of the round just ended, to tell a late message ('wrong-round') from garbage. */
interface PreviousRound {
  readonly roundId: number;
  readonly round: LiveRound;
}

const RETRY_AFTER_STORE_ERROR_MS = 1000;
/** A follower refused a message as stale reloads the round at most this often before judging it again. */
const FOLLOW_AGAIN_MS = 50;
/** Updates an instance takes between checkpoints of its partial aggregate (ADR 0008). */
export const CHECKPOINT_EVERY = 8;
/** A message that waited longer than this for its turn in the queue is refused (503), not handled late. */
export const QUEUE_DEADLINE_MS = 30_000;

/** A message sealed to the round just ended. */
function lateMessage(previous: PreviousRound | undefined): PetError {
  return new PetError('wrong-round', `message: sealed to round ${previous?.roundId ?? '?'}, which has ended`);
}

export class Coordinator {
  private readonly crypto: PetCrypto;
  private readonly settings: Settings;
  private readonly store: CoordinatorStore;
  private readonly models: ModelStore;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly events: CoordinatorEvents;

  /** Where the round lifecycle is (state.ts); changed only by `dispatch`. */
  private state: CoordinatorState = { kind: 'idle', lastRoundId: 0, paused: false };
  /** The data of the round in progress (its record is the state's, synced on every commit). */
  private round: LiveRound | undefined;
  private previous: PreviousRound | undefined;
  private meta: CoordinatorMeta = DEFAULT_META;
  private latestModel: { roundId: number; bytes: Uint8Array } | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private cancelTimer: (() => void) | undefined;
  private readonly accepted: Record<string, number> = {};
  private readonly rejected: Record<string, number> = {};
  private readonly startedAt: number;
  /** This instance's name in the store's update logs. */
  readonly instance: string;
  private readonly cluster: ClusterOptions | undefined;
  /** Whether this instance runs the phase clock (always, without `cluster`). */
  private role: 'leader' | 'follower' = 'leader';
  /** The fencing token of the lease this instance holds, as leader. */
  private leaseToken: number | undefined;
  private cancelLeaseTimer: (() => void) | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;
  /** When this follower last reloaded the round from the store (clock time). */
  private followedAt = Number.NEGATIVE_INFINITY;
  /** `waitForPhaseChange` callers, told the new token whenever a queued change changed it. */
  private readonly phaseWatchers = new Set<(token: string) => void>();
  /** The token the watchers last heard of. */
  private watchedToken = '';
  /**
   * Set after a store error in a message handler: the write may still have been applied, so the
   * round's mirror is reloaded from the store before the next message is handled (docs/security.md §5).
   */
  private mirrorSuspect = false;
  /** `meta.banned` as sets, for the per-message check. */
  private bannedParticipants = new Set<string>();
  private bannedSubjects = new Set<string>();
  /** admission.kind = 'allowlist': the admitted participant keys. */
  private readonly allowlist: ReadonlySet<string> | undefined;
  /** Opens and decodes messages (ingest.ts). */
  private readonly ingest: MessageIngest;
  /** The training run's points in the model store (docs/learning.md), when `run.enabled`. */
  private readonly run: RunKeeper | undefined;
  /** The run's latest point as `GET /run` shows it. */
  private runInfoNow: RunInfo | null = null;
  /** The run's latest federated evaluation (Prometheus, the dashboard). */
  private runEvaluationNow: EvaluationRecord | null = null;
  /** Messages take their turn at the cheap checks against the round in the order they arrived… */
  private readonly checksLine = new InOrder();
  /** …and enter the queue in that order too. */
  private readonly queueLine = new InOrder();

  private constructor(deps: CoordinatorDeps) {
    this.crypto = deps.crypto;
    this.settings = deps.settings;
    this.store = deps.store;
    this.models = deps.models;
    this.clock = deps.clock ?? systemClock;
    this.log = deps.logger ?? silentLogger;
    this.events = deps.events ?? {};
    this.startedAt = this.clock.now();
    this.instance = deps.instance ?? toBase64Url(deps.crypto.randomBytes(9));
    this.cluster = deps.cluster;
    const { admission } = deps.settings;
    this.allowlist = admission.kind === 'allowlist' ? new Set(admission.allowlist) : undefined;
    this.ingest = deps.ingest ?? inProcessIngest(deps.crypto);
    this.run = deps.settings.run.enabled
      ? new RunKeeper(
          deps.settings.run,
          deps.models,
          deps.crypto,
          this.log,
          deps.initialModel,
          runRoundPrivacy(deps.settings),
        )
      : undefined;
  }

  /** Loads the store, continues or fails a persisted round, and starts a round unless paused. */
  static async start(deps: CoordinatorDeps): Promise<Coordinator> {
    const coordinator = new Coordinator(deps);
    await coordinator.serialize(() => coordinator.init());
    return coordinator;
  }

  private async init(): Promise<void> {
    this.setMeta(await this.store.loadMeta());
    await this.loadLatestModel();
    if (this.cluster !== undefined) {
      this.unsubscribe = await this.store.subscribe((notice) => this.onNotice(notice));
      const token = await this.store.lease(this.instance, this.cluster.leaseMs);
      this.scheduleLease();
      if (token === undefined) {
        this.role = 'follower';
        this.log.info({ instance: this.instance }, 'following: another instance leads');
        await this.follow();
        return;
      }
      this.takeLead(token);
    }
    await this.lead();
  }

  /** Starts leading: continues or fails the round in the store, else starts one (a restart does the same). */
  private async lead(): Promise<void> {
    const lastRoundId = await this.store.lastRoundId();
    this.state = { kind: 'idle', lastRoundId, paused: this.meta.paused };

    let record: Awaited<ReturnType<CoordinatorStore['loadRound']>>;
    try {
      record = await this.store.loadRound();
    } catch (error) {
      const reason = `the stored round could not be loaded: ${(error as Error).message}`;
      this.log.error({ err: (error as Error).message }, reason);
      const now = this.clock.now();
      await this.store.endRound({
        roundId: lastRoundId,
        outcome: 'failed',
        failureReason: reason,
        startedAt: now,
        endedAt: now,
        phaseDurationsMs: {},
        participants: { sum: 0, update: 0, sum2: 0 },
      });
      record = undefined;
    }
    const now = this.clock.now();
    await this.dispatch(record === undefined ? { type: 'tick', now } : { type: 'found', record, now });
  }

  private async loadLatestModel(): Promise<void> {
    // A run's first start saves the initial model as round 0 (run/run-keeper.ts).
    if (this.run !== undefined) this.runSeen(await this.run.latest());
    const latest = await this.models.latest();
    if (latest !== undefined && latest.roundId !== this.latestModel?.roundId) {
      this.latestModel = { roundId: latest.roundId, bytes: this.servedModel(latest) };
    }
  }

  // ---- several instances on one store (ADR 0008) ----------------------------------------

  private takeLead(token: number): void {
    this.role = 'leader';
    this.leaseToken = token;
    // Every round change this instance makes from now on is refused once another takes the lease.
    this.store.fence(token);
    this.log.info({ instance: this.instance, token }, 'leading');
  }

  /** Renews the lease (leader) or tries to take it (follower) every leaseMs / 3, outside the queue. */
  private scheduleLease(): void {
    const cluster = this.cluster;
    if (cluster === undefined || this.state.kind === 'shutdown') return;
    this.cancelLeaseTimer = this.clock.setTimer(Math.floor(cluster.leaseMs / 3), () => {
      this.cancelLeaseTimer = undefined;
      void this.checkLease(cluster);
    });
  }

  private async checkLease(cluster: ClusterOptions): Promise<void> {
    let token: number | undefined;
    try {
      token = await this.store.lease(this.instance, cluster.leaseMs);
    } catch (error) {
      // The store is unreachable: nobody can change the round meanwhile (fencing), try again.
      this.log.warn({ err: (error as Error).message }, 'lease renewal failed');
      this.scheduleLease();
      return;
    }
    const previous = this.leaseToken;
    if (this.role === 'leader' && token !== undefined && previous !== undefined && token === previous + 1) {
      // The lease lapsed (this process stalled past its ttl: a burst of messages) and this instance
      // took it again with no other leader in between (tokens grow by one per taking): the round is
      // as it left it. The fence moves at once, not after the queued messages — a transition they
      // trigger must not be refused under the old token.
      this.takeLead(token);
      this.scheduleLease();
      return;
    }
    await this.serialize(async () => {
      if (this.state.kind === 'shutdown') return;
      if (this.role === 'leader' && token !== this.leaseToken) {
        this.log.warn({ instance: this.instance }, 'lost the lease: following');
        this.role = 'follower';
        this.leaseToken = undefined;
        this.cancelTimer?.();
        this.cancelTimer = undefined;
        await this.follow();
      } else if (this.role === 'follower' && token !== undefined) {
        this.takeLead(token);
        await this.lead();
      }
    });
    this.scheduleLease();
  }

  private onNotice(notice: StoreNotice): void {
    void this.serialize(async () => {
      if (this.state.kind === 'shutdown') return;
      try {
        if (notice === 'meta') await this.reloadMeta();
        else if (notice === 'round' && this.role === 'follower') await this.follow();
        else if (notice === 'counts' && this.role === 'leader') await this.countAcrossInstances();
      } catch (error) {
        this.log.warn({ err: (error as Error).message, notice }, 'store notice not handled');
      }
    });
  }

  /** The leader judges the phase by the store's counts: every instance's accepted messages. */
  private async countAcrossInstances(): Promise<void> {
    const round = this.round;
    if (round === undefined || !isAccepting(this.state)) return;
    const counts = await this.store.counts(round.record.roundId);
    await this.dispatch({ type: 'accepted', counts, now: this.clock.now() });
  }

  private async reloadMeta(): Promise<void> {
    const meta = await this.store.loadMeta();
    const was = this.meta.paused;
    this.setMeta(meta);
    if (this.role === 'leader' && meta.paused !== was) {
      await this.dispatch(meta.paused ? { type: 'pause' } : { type: 'resume', now: this.clock.now() });
    } else if (this.role === 'follower' && this.state.kind !== 'shutdown') {
      this.state = { ...this.state, paused: meta.paused };
    }
  }

  /**
   * A follower's view of the round: the store's record, the round's data loaded once per round
   * (a new round), the sum dictionary once the sum phase has ended. It never changes the round.
   */
  private async follow(): Promise<void> {
    this.followedAt = this.clock.now();
    const record = await this.store.loadRound();
    const lastRoundId = await this.store.lastRoundId();
    const paused = this.meta.paused;
    const round = this.round;
    if (round !== undefined && round.record.roundId !== record?.roundId) {
      this.forgetRound(round);
      await this.loadLatestModel();
    }
    if (record === undefined) {
      this.state = { kind: 'idle', lastRoundId, paused };
      return;
    }
    if (this.round === undefined) {
      this.round = await restoreRound(this.store, record, this.settings, this.instance);
    } else if (this.round.record.phase !== record.phase) {
      this.round.record = record;
      if (record.phase !== 'sum') {
        const sumDict = await this.store.sumDict(record.roundId);
        this.round.sumDict.clear();
        for (const [pk, ephemeralPk] of sumDict) this.round.sumDict.set(pk, ephemeralPk);
        this.round.sumDictBytes = encodeSumDict(this.round.sumDict);
      }
      this.round.assembler.dropIncomplete();
    }
    const live = this.round;
    this.state = { kind: record.phase, lastRoundId, paused, round: { record, counts: { ...live.accepted } } };
  }

  // ---- reads (no queue: they read the mirror) -------------------------------------------

  /** `GET /params`: the round parameters JSON, or undefined when no round is in progress. */
  paramsJson(): object | undefined {
    return this.round?.paramsJson;
  }

  /** The round public key of the round that ended last, while this instance still holds it (to tell late requests). */
  previousRoundKey(): { readonly roundId: number; readonly coordinatorPk: Uint8Array } | undefined {
    const previous = this.previous;
    return previous === undefined
      ? undefined
      : { roundId: previous.roundId, coordinatorPk: previous.round.keyPair.publicKey };
  }

  /** `GET /sums`: the encoded sum dictionary once the sum phase has ended. */
  sumDictBytes(): Uint8Array | undefined {
    return this.round?.sumDictBytes;
  }

  /**
   * `GET /seeds?pk=`: the sum participant's update seed dictionary once the update phase has
   * ended (`final`); 'unknown' when `pk` is not in the sum dictionary. With `soFar`, also while
   * the update phase runs: the seeds accepted until now (not final; read from the store at each
   * call, since every accepted update adds one), which a sum participant derives early (ADR 0017).
   */
  async updateSeedDict(
    pk: string,
    soFar = false,
  ): Promise<{ readonly bytes: Uint8Array; readonly final: boolean } | undefined | 'unknown'> {
    const round = this.round;
    const phase = round?.record.phase;
    if (round === undefined || (phase !== 'sum2' && !(soFar && phase === 'update'))) return undefined;
    if (!round.sumDict.has(pk)) return 'unknown';
    const bytes = await updateSeedDictBytes(this.store, round, pk, this.clock.now());
    return { bytes, final: phase === 'sum2' };
  }

  /** `GET /model`: the latest global model body (protocol.md §3.10). */
  latestModelBytes(): Uint8Array | undefined {
    return this.latestModel?.bytes;
  }

  status(): CoordinatorStatus {
    const round = this.round;
    const record = round?.record;
    const timing = record === undefined ? undefined : record.pet[record.phase].time;
    return {
      roundId: record?.roundId ?? null,
      instance: this.instance,
      role: this.role,
      phase: this.phase(),
      paused: this.meta.paused,
      roundStartedAt: record?.startedAt ?? null,
      phaseStartedAt: record?.phaseStartedAt ?? null,
      deadlines:
        record === undefined || timing === undefined
          ? null
          : { minAt: record.phaseStartedAt + timing.minMs, maxAt: record.phaseStartedAt + timing.maxMs },
      counts: { ...(roundOf(this.state)?.counts ?? round?.accepted ?? NO_COUNTS) },
      messages: { accepted: { ...this.accepted }, rejected: { ...this.rejected } },
      latestModelRoundId: this.latestModel?.roundId ?? null,
      chunks: {
        pendingMessages: round?.assembler.pendingMessages ?? 0,
        bytesHeld: round?.assembler.bytesHeld ?? 0,
      },
      banned: { participants: this.bannedParticipants.size, subjects: this.bannedSubjects.size },
      run: this.runInfoNow,
      settings: {
        round: record?.pet ?? null,
        next: this.nextPet(),
        mask: this.settings.mask,
        modelLength: this.settings.model.length,
      },
      startedAt: this.startedAt,
    };
  }

  /**
   * Where the coordinator is, as a token (`<round id>.<phase>`; `-` before the first round;
   * the SDK reads it, protocol.md §1.2): it changes exactly when a round starts, a phase begins, ends or fails, or the
   * coordinator shuts down (which so releases every long poll).
   */
  phaseToken(): string {
    const record = this.round?.record;
    const phase = this.phase();
    const between = phase === 'idle' || phase === 'shutdown' || record === undefined;
    return `${record?.roundId ?? '-'}.${between ? phase : record.phase}`;
  }

  /**
   * `GET /phase?after=&wait_ms=` (a long poll): resolves to the current token as soon as it
   * differs from `after` — at once if it already does — or after `waitMs` (or once `signal`
   * aborts) with the unchanged one. Participants waiting for the next phase hear of it within
   * a round trip instead of at their next poll. With `untilRound` (`&until=round`) a later
   * phase of `after`'s round does not count as a change (@petfl/core `movedOnWithinRound`): a
   * participant with no task left in the round is answered when the round ends, not at each
   * of its phases (protocol.md §1.2).
   */
  waitForPhaseChange(after: string, waitMs: number, signal?: AbortSignal, untilRound = false): Promise<string> {
    const changed = (token: string) => token !== after && !(untilRound && movedOnWithinRound(after, token));
    // A coordinator shutting down holds no new wait: the answer (`….shutdown`) is final here.
    const now = this.phaseToken();
    if (changed(now) || waitMs <= 0 || signal?.aborted || this.state.kind === 'shutdown') return Promise.resolve(now);
    return new Promise((resolve) => {
      const done = () => {
        this.phaseWatchers.delete(check);
        cancel();
        signal?.removeEventListener('abort', done);
        resolve(this.phaseToken());
      };
      const check = (token: string) => {
        if (changed(token)) done();
      };
      const cancel = this.clock.setTimer(waitMs, done);
      this.phaseWatchers.add(check);
      signal?.addEventListener('abort', done);
    });
  }

  /** How many `GET /phase` long polls are held right now. */
  phaseWaiters(): number {
    return this.phaseWatchers.size;
  }

  /**
   * `GET /admin/rounds`: the newest rounds first; in a training run each round that carried metrics
   * has its federated `evaluation` (of the model of round `modelRoundId`, docs/learning.md §5).
   */
  async history(limit: number): Promise<readonly (RoundSummary & { readonly evaluation?: EvaluationRecord })[]> {
    const rounds = await this.store.history(limit);
    if (this.run === undefined) return rounds;
    const { evaluations } = (await this.run.latest()).checkpoint;
    const byRound = new Map(evaluations.map((record) => [record.roundId, record]));
    return rounds.map((summary) => {
      const evaluation = byRound.get(summary.roundId);
      return evaluation === undefined ? summary : { ...summary, evaluation };
    });
  }

  // ---- messages --------------------------------------------------------------------------

  /**
   * The message pipeline of `POST /message` after the body-size limit (protocol.md §3.2), cheap
   * checks first (docs/security.md §4): open and authenticate → tag vs phase → admission
   * (bans, allowlist, the token subject's identities) → duplicate → eligibility from the payload's
   * leading signatures (for a multipart message on chunk 0, before any chunk is held) → chunk
   * reassembly → full decode → phase handler. Throws a PetError for every rejection.
   *
   * Opening and decoding run on the ingest (ingest.ts), possibly on worker threads and several
   * messages at once. Everything that reads or changes the round — the checks from the phase on
   * and chunk reassembly, then the phase handler in the queue — takes its turn in the order the
   * messages arrived here, whichever one's opening finished first: which messages a phase takes
   * (duplicates, count.max) is decided as it would be one message at a time.
   */
  async handleMessage(sealed: Uint8Array, context: MessageContext = {}): Promise<Accepted> {
    // Read before the bytes may be handed over to a worker (which detaches the caller's array).
    const bytes = sealed.length;
    try {
      const accepted = await this.process(sealed, context);
      const tag = accepted.kind === 'chunk' ? 'chunk' : accepted.tag;
      this.accepted[tag] = (this.accepted[tag] ?? 0) + 1;
      this.events.messageAccepted?.(tag, bytes);
      return accepted;
    } catch (error) {
      const code = isPetError(error) ? error.code : 'internal';
      this.rejected[code] = (this.rejected[code] ?? 0) + 1;
      this.events.messageRejected?.(code, bytes);
      throw error;
    }
  }

  private async process(sealed: Uint8Array, context: MessageContext): Promise<Accepted> {
    const length = sealed.byteLength;
    // A follower may judge a message again after catching up (below): it keeps the bytes for that.
    const handOver = context.handOver === true && this.role === 'leader';
    try {
      return await this.processOnce(sealed, context, handOver);
    } catch (error) {
      // A follower may be a notice behind the store: the round or phase a participant saw at
      // another instance is not yet here. Catch up once and judge the message again — at most
      // every FOLLOW_AGAIN_MS, so garbage cannot make every message cost a reload. (Bytes handed
      // over to a worker — this instance led when the message came — cannot be judged again.)
      const stale = isPetError(error, 'decrypt-failed') || isPetError(error, 'wrong-phase');
      const now = this.clock.now();
      if (!stale || this.role !== 'follower' || now - this.followedAt < FOLLOW_AGAIN_MS) throw error;
      if (sealed.byteLength !== length) throw error;
      await this.serialize(async () => {
        if (this.state.kind !== 'shutdown' && this.role === 'follower') await this.follow();
      });
      return this.processOnce(sealed, context, false);
    }
  }

  private async processOnce(sealed: Uint8Array, context: MessageContext, handOver: boolean): Promise<Accepted> {
    // Both places are taken at arrival, in one step: the order of arrival is the order of turns.
    const checks = this.checksLine.join();
    const entry = this.queueLine.join();
    try {
      if (this.state.kind === 'shutdown')
        throw new PetError('unavailable', 'message: the coordinator is shutting down');
      const round = this.round;
      const previous = this.previous;
      if (round === undefined) {
        if (previous !== undefined) await this.rejectLate(sealed, handOver, previous);
        throw new PetError('wrong-phase', 'message: no round is in progress');
      }
      const { record } = round;
      const opened = await this.ingest.open({
        sealed,
        handOver,
        key: round.keyPair,
        previousKey: previous?.round.keyPair,
        eligibility: eligibilityFacts(record),
      });
      if (opened.kind === 'late') throw lateMessage(previous);
      const { frame } = opened;

      // The checks against the round and chunk reassembly: in the order of arrival.
      await checks.wait();
      if (this.phase() === 'shutdown') throw new PetError('unavailable', 'message: the coordinator is shutting down');
      if (this.round !== round) throw new PetError('wrong-round', 'message: its round ended while it was processed');
      const pk = toBase64Url(frame.participantPk);
      this.checkPhase(round, frame.tag);
      this.checkAdmitted(round, pk, context.subject);
      this.checkNotAccepted(round, frame.tag, pk);
      const admit = (prefix: Uint8Array) => {
        this.checkEligible(round, frame, pk, prefix, opened.eligibility);
        // With several instances the store binds first (bindSubjectAcrossInstances), then this one.
        if (this.cluster === undefined) this.bindSubject(round, pk, context.subject);
      };
      const shared = frame.multipart && this.cluster !== undefined && this.store.addChunk !== undefined;
      let parts: Uint8Array[] | undefined;
      let chunk: Chunk | undefined;
      if (shared) {
        chunk = decodeChunk(frame.body);
        if (chunk.index === 0) admit(chunk.data);
      } else if (frame.multipart) {
        // The opened frame is this pipeline's own (opened in the bytes handed over, a fresh copy, or
        // moved from a worker): kept, not copied.
        parts = round.assembler.addPart(pk, TAGS[frame.tag], frame.body, admit, true);
      } else {
        admit(frame.body);
      }
      checks.done();

      // Store round trips (several instances) do not hold up the messages behind this one.
      let payloadBytes: Uint8Array | Uint8Array[];
      let owned = true;
      if (chunk !== undefined) {
        if (chunk.index === 0) await this.bindSubjectAcrossInstances(round, pk, context.subject);
        const whole = await this.addSharedChunk(round, frame, pk, chunk);
        if (whole === undefined) return { kind: 'chunk' };
        // The store's answer may share its buffer with other data: moved only if it is all its own.
        owned = whole.byteOffset === 0 && whole.byteLength === whole.buffer.byteLength;
        payloadBytes = whole;
      } else if (frame.multipart) {
        if (parts === undefined) return { kind: 'chunk' };
        // The chunks' data, each a view into its opened frame (this pipeline's own), joined
        // where the payload is decoded: by an ingest worker, off this thread.
        payloadBytes = parts;
      } else {
        await this.bindSubjectAcrossInstances(round, pk, context.subject);
        payloadBytes = frame.body; // the opened message: this pipeline's own
      }
      const payload = await this.ingest.decode({
        tag: frame.tag,
        bytes: payloadBytes,
        handOver: owned,
        expect: { config: record.maskConfig, modelLength: record.modelLength },
      });

      // The queue: in the order of arrival too.
      await entry.wait();
      const queuedAt = this.clock.now();
      return this.serialize(() => this.accept(round, pk, payload, queuedAt));
    } finally {
      checks.done();
      entry.done();
    }
  }

  /** The phase handler of an opened, checked and decoded message (inside the queue). */
  private async accept(round: LiveRound, pk: string, payload: Payload, queuedAt: number): Promise<Accepted> {
    const { record } = round;
    if (this.state.kind === 'shutdown') throw new PetError('unavailable', 'message: the coordinator is shutting down');
    if (this.round !== round) throw new PetError('wrong-round', 'message: its round ended while it was processed');
    const waited = this.clock.now() - queuedAt;
    if (waited > QUEUE_DEADLINE_MS) {
      throw new PetError(
        'unavailable',
        `message: waited ${waited} ms for its turn (at most ${QUEUE_DEADLINE_MS}); retry`,
      );
    }
    this.checkPhase(round, payload.kind);
    await this.reconcileIfSuspect(round);
    try {
      switch (payload.kind) {
        case 'sum':
          await acceptSum(this.store, round, pk, payload.sum);
          break;
        case 'update':
          await acceptUpdate(this.store, round, pk, payload.update);
          await this.checkpoint(round);
          break;
        case 'sum2':
          await acceptSum2(this.crypto, this.store, round, pk, payload.sum2);
          break;
      }
    } catch (error) {
      // A refusal changed nothing; any other failure (a store error, a timeout) may have been
      // applied in the store after all: reload the mirror from the store before the next message.
      if (!isPetError(error)) this.mirrorSuspect = true;
      throw error;
    }
    this.log.debug({ roundId: record.roundId, tag: payload.kind, participant: pkTag(pk) }, 'message accepted');
    if (this.cluster === undefined) {
      await this.dispatch({ type: 'accepted', counts: { ...round.accepted }, now: this.clock.now() });
    } else if (this.role === 'leader') {
      await this.countAcrossInstances();
    } else {
      // The leader counts across instances and ends the phase; a lost notice is made up by the next one.
      this.store.notify('counts').catch(() => undefined);
    }
    return { kind: 'message', tag: payload.kind };
  }

  /** Between rounds: a message that opens with the last round's key is late ('wrong-round'). */
  private async rejectLate(sealed: Uint8Array, handOver: boolean, previous: PreviousRound): Promise<void> {
    let outcome: Awaited<ReturnType<MessageIngest['open']>> | undefined;
    try {
      outcome = await this.ingest.open({
        sealed,
        handOver,
        key: undefined,
        previousKey: previous.round.keyPair,
        eligibility: undefined,
      });
    } catch (error) {
      if (!isPetError(error, 'decrypt-failed')) throw error;
    }
    if (outcome?.kind === 'late') throw lateMessage(previous);
  }

  /**
   * One chunk of a multipart message, reassembled in the store (ADR 0008): the chunks of one
   * message may reach different instances. Chunk 0 was admitted first, as the in-memory
   * assembler does; the store keeps the assembler's rules and budgets.
   */
  private async addSharedChunk(
    round: LiveRound,
    frame: OpenedFrame,
    pk: string,
    chunk: Chunk,
  ): Promise<Uint8Array | undefined> {
    const addChunk = this.store.addChunk?.bind(this.store);
    if (addChunk === undefined) throw new Error('addSharedChunk: the store cannot hold chunks');
    const cost = Math.max(frame.body.length, MIN_CHUNK_COST);
    const outcome = await addChunk(
      round.record.roundId,
      frame.tag,
      pk,
      {
        tag: TAGS[frame.tag],
        messageId: chunk.messageId,
        index: chunk.index,
        last: chunk.last,
        data: chunk.data,
        cost,
      },
      chunkBudget(this.settings),
    );
    switch (outcome.kind) {
      case 'held':
      case 'retry':
        return undefined;
      case 'complete':
        return outcome.payload;
      case 'closed':
        throw new PetError('wrong-phase', `message: the ${frame.tag} phase has ended`);
      case 'refused':
        throw new PetError(outcome.code, outcome.message);
    }
  }

  /** Checkpoints this instance's partial aggregate now and then; a failure loses nothing (the log keeps the updates). */
  private async checkpoint(round: LiveRound): Promise<void> {
    try {
      await checkpointPartial(this.store, round, this.cluster?.checkpointEvery ?? CHECKPOINT_EVERY);
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'checkpoint of the partial aggregate failed; retried later');
    }
  }

  /** Reloads the round's mirror from the store after a store error; a failing store answers 503. */
  private async reconcileIfSuspect(round: LiveRound): Promise<void> {
    if (!this.mirrorSuspect) return;
    try {
      await reloadRound(this.store, round);
    } catch (error) {
      this.log.error({ err: (error as Error).message }, 'reloading the round from the store failed');
      throw new PetError('unavailable', 'message: the coordinator store is unavailable; retry later', { cause: error });
    }
    this.mirrorSuspect = false;
    this.log.info({ roundId: round.record.roundId, accepted: round.accepted }, 'round reloaded from the store');
  }

  /** Bans, the allowlist and the token subject's binding (docs/security.md §2–3): cheap, before anything else. */
  private checkAdmitted(round: LiveRound, pk: string, subject: string | undefined): void {
    if (this.bannedParticipants.has(pk)) {
      throw new PetError(
        'banned',
        `message: participant ${pk} is excluded (it sent mask seeds that could not be opened)`,
      );
    }
    if (subject !== undefined && this.bannedSubjects.has(subject)) {
      throw new PetError(
        'banned',
        'message: this admission subject is excluded (one of its keys sent unopenable mask seeds)',
      );
    }
    const admission = this.settings.admission;
    if (this.allowlist !== undefined && !this.allowlist.has(pk)) {
      throw new PetError('not-admitted', `message: participant ${pk} is not on the coordinator's allowlist`);
    }
    if (admission.kind !== 'token') return;
    if (subject === undefined) throw new PetError('not-admitted', 'message: expected an admission token');
    const bound = round.subjectOf.get(pk);
    if (bound !== undefined && bound !== subject) {
      throw new PetError('not-admitted', `message: participant ${pk} was admitted under another subject this round`);
    }
    const keys = round.identities.get(subject);
    if (bound === undefined && keys !== undefined && keys.size >= admission.maxIdentitiesPerSubject) {
      throw new PetError(
        'not-admitted',
        `message: this subject already took part with ${keys.size} participant key${keys.size === 1 ? '' : 's'} ` +
          `this round (at most ${admission.maxIdentitiesPerSubject})`,
      );
    }
  }

  /**
   * With several instances (ADR 0008) a subject's identities are counted in the store, so that
   * `max_identities_per_subject` holds across instances, not per instance (docs/security.md §2).
   */
  private async bindSubjectAcrossInstances(round: LiveRound, pk: string, subject: string | undefined): Promise<void> {
    const bind = this.store.bindSubject?.bind(this.store);
    if (this.cluster === undefined || subject === undefined) return;
    if (bind === undefined) {
      this.bindSubject(round, pk, subject); // a store that cannot bind: this instance's memory only
      return;
    }
    const admission = this.settings.admission;
    if (admission.kind !== 'token') return;
    const answer = await bind(round.record.roundId, pk, subject, admission.maxIdentitiesPerSubject);
    if (answer === 'bound') this.bindSubject(round, pk, subject);
    else if (answer === 'other-subject') {
      throw new PetError('not-admitted', `message: participant ${pk} was admitted under another subject this round`);
    }
    if (answer === 'too-many') {
      throw new PetError(
        'not-admitted',
        `message: this subject already took part with ${admission.maxIdentitiesPerSubject} participant key` +
          `${admission.maxIdentitiesPerSubject === 1 ? '' : 's'} this round, across the coordinator's instances`,
      );
    }
  }

  /** Records the participant key under its token subject once its message passed the eligibility check. */
  private bindSubject(round: LiveRound, pk: string, subject: string | undefined): void {
    if (subject === undefined || round.subjectOf.has(pk)) return;
    round.subjectOf.set(pk, subject);
    let keys = round.identities.get(subject);
    if (keys === undefined) {
      keys = new Set();
      round.identities.set(subject, keys);
    }
    keys.add(pk);
  }

  /**
   * Eligibility from the payload's leading signatures (a whole payload, or chunk 0's data): the
   * ingest's verdict on the same bytes when it made the signature checks, else checked here.
   */
  private checkEligible(
    round: LiveRound,
    frame: OpenedFrame,
    pk: string,
    prefix: Uint8Array,
    verdict: EligibilityVerdict | undefined,
  ): void {
    if (verdict !== undefined) {
      // The sender's membership is the round's to check; then the signatures' verdict.
      if (frame.tag === 'sum2') checkSum2Sender(round, pk);
      if (verdict !== null) throw new PetError(verdict.code, verdict.message);
      return;
    }
    switch (frame.tag) {
      case 'sum':
        checkSumEligible(this.crypto, round, frame.participantPk, prefix);
        break;
      case 'update':
        checkUpdateEligible(this.crypto, round, frame.participantPk, prefix);
        break;
      case 'sum2':
        checkSum2Eligible(this.crypto, round, frame.participantPk, pk, prefix);
        break;
    }
  }

  private checkPhase(round: LiveRound, tag: MessageTag): void {
    const phase = round.record.phase;
    if (tag !== phase) {
      throw new PetError('wrong-phase', `message: a ${tag} message cannot be accepted in the ${phase} phase`);
    }
    // While the round unmasks, its record still says sum2 (phases/sum2.ts) but the phase has
    // ended and its incomplete messages are dropped: a later Sum2, or a chunk of one, is late.
    if (this.state.kind === 'unmask') throw new PetError('wrong-phase', `${tag}: the ${tag} phase has ended`);
  }

  private checkNotAccepted(round: LiveRound, tag: MessageTag, pk: string): void {
    const done =
      tag === 'sum' ? round.sumDict.has(pk) : tag === 'update' ? round.updates.has(pk) : round.sum2Senders.has(pk);
    if (done) throw new PetError('duplicate-message', `${tag}: participant ${pk} already sent this message`);
  }

  // ---- the reducer's shell (always inside the queue) --------------------------------------

  private phase(): Phase {
    return phaseOf(this.state);
  }

  /**
   * Runs one event through the reducer (transition.ts) and applies its effects: the writes
   * first — if one fails, the state stays as it was and the shell judges again later — then the
   * commit, then the notices and tasks in order; a task's answer is dispatched in turn.
   */
  private async dispatch(event: CoordinatorEvent): Promise<void> {
    const { state, effects } = transition(this.state, event);
    try {
      for (const effect of effects) if (WRITES.has(effect.kind)) await this.write(effect);
    } catch (error) {
      this.retryLater('phase transition failed', error);
      return;
    }
    this.commit(state);
    const answers: CoordinatorEvent[] = [];
    try {
      for (const effect of effects) {
        const answer = await this.apply(effect);
        if (answer !== undefined) answers.push(answer);
      }
    } catch (error) {
      this.retryLater('round task failed', error);
      return;
    }
    for (const answer of answers) await this.dispatch(answer);
  }

  private commit(state: CoordinatorState): void {
    this.state = state;
    const facts = state.kind === 'idle' ? undefined : state.round;
    // The round's data carries the committed record: the phase handlers check the phase on it.
    if (facts !== undefined && this.round?.record.roundId === facts.record.roundId) this.round.record = facts.record;
  }

  /** A failed write or task: log it, and judge again in a while (a tick asks for the task again). */
  private retryLater(what: string, error: unknown): void {
    if (this.state.kind === 'shutdown') return;
    this.log.error({ err: error instanceof Error ? error.message : String(error) }, `${what}; retrying`);
    this.schedule(RETRY_AFTER_STORE_ERROR_MS);
  }

  /** The store writes of a transition, before its state is committed. */
  private async write(effect: Effect): Promise<void> {
    switch (effect.kind) {
      case 'saveRound': {
        await this.store.saveRound(effect.record);
        const round = this.round;
        if (effect.ended === 'sum' && this.cluster !== undefined && round !== undefined) {
          // Other instances took Sum messages too: the sum dictionary is the store's, read once the
          // phase is closed there (no instance can add to it any more).
          const sumDict = await this.store.sumDict(effect.record.roundId);
          round.sumDict.clear();
          for (const [pk, ephemeralPk] of sumDict) round.sumDict.set(pk, ephemeralPk);
        }
        return;
      }
      case 'endRound': {
        const round = this.round;
        if (effect.offenders !== undefined && round !== undefined) await this.ban(round, effect.offenders);
        await this.store.endRound(effect.summary);
        return;
      }
      default:
        throw new Error(`not a write: ${effect.kind}`);
    }
  }

  /** Everything else a transition asks for, after its state is committed; a task answers with an event. */
  private async apply(effect: Effect): Promise<CoordinatorEvent | undefined> {
    switch (effect.kind) {
      case 'saveRound': {
        const round = this.round;
        // The sum dictionary is fixed once the sum phase has ended: encode it once for GET /sums.
        if (effect.ended === 'sum' && round !== undefined) round.sumDictBytes = encodeSumDict(round.sumDict);
        const { record } = effect;
        // The ended phase's incomplete multipart messages in the store can never complete now.
        if (this.cluster !== undefined && this.store.dropChunks !== undefined) {
          this.store.dropChunks(record.roundId, effect.ended).catch((error: Error) => {
            this.log.warn({ err: error.message }, 'dropping the ended phase’s chunks failed');
          });
        }
        this.log.info(
          { roundId: record.roundId, phase: record.phase, accepted: this.round?.accepted[effect.ended] },
          'phase started',
        );
        return undefined;
      }
      case 'endRound':
        this.roundEnded(effect.summary);
        return undefined;
      case 'openRound':
        return this.openRound(effect.roundId, effect.now);
      case 'restoreRound':
        return this.restoreRound(effect.record);
      case 'unmask':
        return this.unmask();
      case 'wakeIn':
        this.schedule(effect.ms);
        return undefined;
      case 'cancelTimer':
        this.cancelTimer?.();
        this.cancelTimer = undefined;
        return undefined;
      case 'dropChunks':
        this.round?.assembler.dropIncomplete();
        return undefined;
      case 'phaseEnded':
        this.events.phaseEnded?.(effect.phase, effect.durationMs);
        return undefined;
      default:
        return assertNever(effect);
    }
  }

  private schedule(ms: number): void {
    this.cancelTimer?.();
    this.cancelTimer = this.clock.setTimer(ms, () => {
      this.cancelTimer = undefined;
      void this.serialize(async () => {
        if (this.role !== 'leader') return;
        // With several instances the counts live in the store: a retry after a failed transition
        // must judge them afresh, not the counts the failed transition left behind.
        if (this.cluster !== undefined && isAccepting(this.state)) {
          try {
            await this.countAcrossInstances();
            return;
          } catch (error) {
            this.retryLater('reading the counts failed', error);
            return;
          }
        }
        await this.dispatch({ type: 'tick', now: this.clock.now() });
      });
    });
  }

  /** What the next round promises (docs/privacy.md): the run's promise at its latest model, or none. */
  private async roundPromise(): Promise<RoundPrivacy | undefined> {
    return this.run === undefined ? undefined : this.run.roundPromise();
  }

  /** The idle phase's task: a fresh round key pair and seed, stored before the round starts. */
  private async openRound(roundId: number, now: number): Promise<CoordinatorEvent> {
    const privacy = await this.roundPromise();
    const round = openRound(this.crypto, roundId, this.nextPet(), this.settings, now, this.instance, privacy);
    try {
      await this.store.startRound(round.record);
    } catch (error) {
      closeRound(this.crypto, round);
      throw error;
    }
    this.round = round;
    this.log.info({ roundId, phase: 'sum' }, 'round started');
    return { type: 'roundStarted', record: round.record, now: this.clock.now() };
  }

  /** Start-up: loads the data of the round found in the store, to continue it. */
  private async restoreRound(record: RoundRecord): Promise<CoordinatorEvent> {
    const now = () => this.clock.now();
    try {
      const following = this.round;
      if (following !== undefined && following.record.roundId === record.roundId) {
        // A follower taking the lead: its round data is refreshed in place, so messages it is
        // opening right now still belong to the round in progress (not 'wrong-round').
        following.record = record;
        await reloadRound(this.store, following);
      } else {
        this.round = await restoreRound(this.store, record, this.settings, this.instance);
      }
    } catch (error) {
      const reason = `the stored round ${record.roundId} could not be restored: ${(error as Error).message}`;
      this.log.error({ roundId: record.roundId }, reason);
      return { type: 'restoreFailed', reason, now: now() };
    }
    this.log.info(
      { roundId: record.roundId, phase: record.phase, elapsedMs: now() - record.phaseStartedAt },
      'continuing round',
    );
    return { type: 'restored', counts: { ...(this.round?.accepted ?? { sum: 0, update: 0, sum2: 0 }) }, now: now() };
  }

  /** The unmask task: the winning mask applied, the global model saved before the round counts as completed. */
  private async unmask(): Promise<CoordinatorEvent> {
    const round = this.round;
    if (round === undefined) throw new Error('unmask: no round data');
    // In step with the store, its own aggregate may be the whole round's (unmaskRound says when).
    const own = this.mirrorSuspect ? undefined : round.aggregation;
    const outcome = await unmaskRound(this.store, round, this.settings.safety, own);
    const failed = (reason: string, offenders?: readonly string[]): CoordinatorEvent => ({
      type: 'unmasked',
      outcome: { kind: 'failed', reason, ...(offenders === undefined ? {} : { offenders }) },
      now: this.clock.now(),
    });
    if (outcome.kind === 'failure') return failed(outcome.reason, outcome.offenders);
    const roundId = round.record.roundId;
    let global: GlobalModel = { roundId, model: outcome.model };
    if (this.run !== undefined) {
      let applied: Awaited<ReturnType<RunKeeper['apply']>>;
      try {
        applied = await this.run.apply(
          roundId,
          outcome.model,
          outcome.count,
          this.meta.restoreRun,
          round.params.privacy === undefined
            ? undefined
            : { privacy: round.params.privacy, roundSeed: round.params.seed },
        );
      } catch (error) {
        if (!isPetError(error)) throw error;
        return failed(`unmask: the run cannot use the average: ${error.message}`);
      }
      const { point, endedNow } = applied;
      if (endedNow && !this.meta.paused) {
        // Paused before the model is published: the next round must not start from an ended run.
        await this.saveMeta({ ...this.meta, paused: true });
        if (this.state.kind !== 'shutdown') this.state = { ...this.state, paused: true };
        this.log.info({ roundId, reason: point.checkpoint.ended?.message }, 'run ended: paused');
      }
      global = { roundId, model: point.model };
      // The model is durable before the round counts as completed: it is never lost.
      await this.models.save(global);
      await this.run.published(point, this.meta.restoreRun);
      if (this.meta.restoreRun !== undefined) {
        // Only now: a restart before this point carries the restore out again (or finds it done).
        const { restoreRun: _done, ...meta } = this.meta;
        await this.saveMeta(meta);
      }
      this.runSeen(point);
    } else {
      await this.models.save(global);
    }
    this.latestModel = { roundId: global.roundId, bytes: this.servedModel(global) };
    return { type: 'unmasked', outcome: { kind: 'completed' }, now: this.clock.now() };
  }

  /** Drops the round's data, keeping its key one more round (to tell late messages from garbage). */
  private forgetRound(round: LiveRound): void {
    if (this.previous !== undefined) closeRound(this.crypto, this.previous.round);
    round.assembler.dropIncomplete();
    this.previous = { roundId: round.record.roundId, round };
    this.round = undefined;
  }

  /** Excludes participant keys, and the subjects they were admitted under, from every later round. */
  private async ban(round: LiveRound, participants: readonly string[]): Promise<void> {
    const subjects = participants.flatMap((pk) => {
      const subject = round.subjectOf.get(pk);
      return subject === undefined ? [] : [subject];
    });
    const before = this.meta.banned ?? { participants: [], subjects: [] };
    const add = (list: readonly string[], more: readonly string[]) =>
      [...new Set([...list, ...more])].slice(-BANNED_LIMIT);
    await this.saveMeta({
      ...this.meta,
      banned: { participants: add(before.participants, participants), subjects: add(before.subjects, subjects) },
    });
    this.log.warn(
      { roundId: round.record.roundId, participants: participants.map(pkTag), subjects: subjects.length },
      'participants excluded: their mask seeds could not be opened',
    );
  }

  /** The round's summary is stored: forget its data (keeping its key one more round, for late messages). */
  private roundEnded(summary: RoundSummary): void {
    const round = this.round;
    if (round !== undefined && round.record.roundId === summary.roundId) this.forgetRound(round);
    this.events.roundEnded?.(summary);
    const log = { roundId: summary.roundId, outcome: summary.outcome, participants: summary.participants };
    if (summary.outcome === 'failed') this.log.warn({ ...log, reason: summary.failureReason }, 'round failed');
    else this.log.info(log, 'round completed');
  }

  /** The served body: the config's width (f32 configs get f32), from the exact float64 average. */
  private servedModel(global: GlobalModel): Uint8Array {
    const f32 = this.settings.mask.data === 'f32' || this.settings.mask.data === 'i32';
    const model = f32 && !(global.model instanceof Float32Array) ? Float32Array.from(global.model) : global.model;
    return encodeGlobalModel({ roundId: global.roundId, model });
  }

  // ---- operator API ----------------------------------------------------------------------

  private nextPet(): RoundPetSettings {
    return this.meta.nextPet ?? this.settings.pet;
  }

  /** Pause: the round in progress runs to its end; no new round starts until `resume`. */
  pause(): Promise<void> {
    return this.serialize(async () => {
      await this.saveMeta({ ...this.meta, paused: true });
      this.log.info({}, 'paused');
      if (this.role === 'leader') await this.dispatch({ type: 'pause' });
      else if (this.state.kind !== 'shutdown') this.state = { ...this.state, paused: true };
    });
  }

  resume(): Promise<void> {
    return this.serialize(async () => {
      await this.saveMeta({ ...this.meta, paused: false });
      this.log.info({}, 'resumed');
      if (this.role === 'leader') await this.dispatch({ type: 'resume', now: this.clock.now() });
      else if (this.state.kind !== 'shutdown') this.state = { ...this.state, paused: false };
    });
  }

  /** Changes the PET settings of the rounds that start from now on (validated; SettingsError lists problems). */
  changeSettings(change: unknown): Promise<RoundPetSettings> {
    return this.serialize(async () => {
      const pet = changePetSettings(
        this.nextPet(),
        change,
        this.settings.mask,
        this.settings.safety,
        this.settings.run,
      );
      await this.saveMeta({ ...this.meta, nextPet: pet });
      this.log.info({ pet }, 'next-round settings changed');
      return pet;
    });
  }

  private async saveMeta(meta: CoordinatorMeta): Promise<void> {
    await this.store.saveMeta(meta);
    this.setMeta(meta);
    // The other instances reload it: the leader acts on pause and resume, every one on bans.
    if (this.cluster !== undefined) this.store.notify('meta').catch(() => undefined);
  }

  private setMeta(meta: CoordinatorMeta): void {
    this.meta = meta;
    this.bannedParticipants = new Set(meta.banned?.participants ?? []);
    this.bannedSubjects = new Set(meta.banned?.subjects ?? []);
  }

  // ---- the training run (docs/learning.md) ------------------------------------------------

  private runSeen(point: RunPoint): void {
    this.runInfoNow = this.run?.info(point) ?? null;
    this.runEvaluationNow = point.checkpoint.evaluations.at(-1) ?? null;
  }

  /** The run's latest federated evaluation, or null. */
  runEvaluation(): EvaluationRecord | null {
    return this.runEvaluationNow;
  }

  /** `GET /run`: the run's layout and where it is; null without a run. */
  runInfo(): RunInfo | null {
    return this.runInfoNow;
  }

  /** `GET /admin/run`: the run with its evaluations, best model and early-stopping state. */
  async runReport(): Promise<RunReport> {
    const run = this.requireRun();
    return run.report(await run.latest(), this.meta.restoreRun);
  }

  /** `GET /model?round=N`: that round's stored global model body, or undefined. */
  async modelOfRound(roundId: number): Promise<Uint8Array | undefined> {
    const global = await this.models.get(roundId);
    return global === undefined ? undefined : this.servedModel(global);
  }

  /** `GET /model/best`: the model early stopping judged best so far, or undefined. */
  async bestModel(): Promise<Uint8Array | undefined> {
    const run = this.requireRun();
    const best = (await run.latest()).checkpoint.earlyStopping.best;
    return best === null ? undefined : this.modelOfRound(best.roundId);
  }

  /**
   * `POST /admin/run/restore {round}`: the run goes back to the checkpoint of `roundId`. The round
   * in progress (or the next) carries it out when it is unmasked: its own updates were made against
   * the model being replaced, so they are set aside, and its model is the restored one.
   */
  restoreRun(roundId: number): Promise<RunReport> {
    return this.serialize(async () => {
      const run = this.requireRun();
      if ((await run.point(roundId)) === undefined) {
        throw new CoordinatorError('not-found', `run restore: round ${roundId} has no kept checkpoint and model`);
      }
      await this.saveMeta({ ...this.meta, restoreRun: roundId });
      this.log.warn({ roundId }, 'run restore requested: the next unmasked round carries it out');
      return run.report(await run.latest(), roundId);
    });
  }

  private requireRun(): RunKeeper {
    if (this.run === undefined) throw new CoordinatorError('not-found', 'no training run: run.enabled is false');
    return this.run;
  }

  /** `GET /health`: whether the store answers (a store that does not makes the coordinator unready). */
  async storeHealth(): Promise<{ readonly ok: true } | { readonly ok: false; readonly reason: string }> {
    try {
      await this.store.ping();
      return { ok: true };
    } catch (error) {
      return { ok: false, reason: error instanceof Error ? error.message : String(error) };
    }
  }

  /**
   * Stops: no further transitions; the round in progress stays in the store so the next
   * coordinator on the same store continues it.
   */
  shutdown(): Promise<void> {
    return this.serialize(async () => {
      if (this.state.kind === 'shutdown') return; // already: a second call (node/listen.ts's close) changes nothing
      await this.dispatch({ type: 'shutdown' });
      this.cancelLeaseTimer?.();
      this.cancelLeaseTimer = undefined;
      await this.unsubscribe?.().catch(() => undefined);
      // A clean stop hands the lead over at once instead of after the lease's ttl.
      if (this.cluster !== undefined && this.role === 'leader') {
        await this.store.releaseLease(this.instance).catch(() => undefined);
      }
      this.log.info({ roundId: this.round?.record.roundId ?? null }, 'shutdown');
    });
  }

  /** Runs `fn` after everything queued before it (one change at a time). */
  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    // Every phase change runs in here: once it has, tell the long polls — only when the token
    // changed, so a message that moves nothing costs one string compare, however many wait.
    void this.queue.then(() => {
      const token = this.phaseToken();
      if (token === this.watchedToken) return;
      this.watchedToken = token;
      // Followers reload the round from the store when the leader changed it.
      if (this.cluster !== undefined && this.role === 'leader') this.store.notify('round').catch(() => undefined);
      for (const check of [...this.phaseWatchers]) check(token);
    });
    return run;
  }
}
