/**
 * The coordinator's round state machine (protocol.md §1): idle → sum →
 * update → sum2 → unmask → idle, failure → a fresh round, shutdown.
 *
 * One `Coordinator` owns the round in progress. Every change — an accepted
 * message, a phase transition, an operator command — runs through one
 * serializing queue, so handlers never interleave across their store awaits.
 * Opening a message (decrypt, verify, decode) is pure CPU work done before
 * the queue; the handler then re-checks that the round it was opened for is
 * still the round in progress.
 *
 * Phases end by count or time (phase-timing.ts), judged after every accepted
 * message and on a timer. A restart restores the round from the store and
 * continues it if its phase deadline has not passed, else fails it with a
 * recorded reason and starts the next round (DESIGN §4).
 */

import {
  decodePayload,
  encodeGlobalModel,
  encodeSumDict,
  type GlobalModel,
  isPetError,
  type MessageTag,
  type OpenedFrame,
  openFrame,
  type PetCrypto,
  PetError,
  TAGS,
  toBase64Url,
} from '@petfl/core';
import { type Clock, systemClock } from '../clock.ts';
import { type Logger, pkTag, silentLogger } from '../logger.ts';
import { changePetSettings, type PhaseSettings, type Settings } from '../settings.ts';
import {
  BANNED_LIMIT,
  type CoordinatorMeta,
  type CoordinatorStore,
  DEFAULT_META,
  type LivePhase,
  type RoundPetSettings,
  type RoundSummary,
} from '../store/coordinator-store.ts';
import type { ModelStore } from '../store/model-store.ts';
import { judgePhase } from './phase-timing.ts';
import { acceptSum, checkSumEligible } from './phases/sum.ts';
import { acceptSum2, checkSum2Eligible } from './phases/sum2.ts';
import { majorityOf, unmaskRound } from './phases/unmask.ts';
import { acceptUpdate, checkUpdateEligible } from './phases/update.ts';
import { closeRound, type LiveRound, openRound, reloadRound, restoreRound, updateSeedDictBytes } from './round.ts';

export type Phase = 'idle' | LivePhase | 'unmask' | 'shutdown';

/** Hooks for metrics (and anything else that watches the coordinator). */
export interface CoordinatorEvents {
  messageAccepted?(tag: MessageTag | 'chunk', bytes: number): void;
  messageRejected?(code: string, bytes: number): void;
  phaseEnded?(phase: LivePhase | 'unmask', durationMs: number): void;
  roundEnded?(summary: RoundSummary): void;
}

export interface CoordinatorDeps {
  readonly crypto: PetCrypto;
  readonly settings: Settings;
  readonly store: CoordinatorStore;
  readonly models: ModelStore;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly events?: CoordinatorEvents;
}

/** What the HTTP layer knows of a message's sender (docs/security.md §2). */
export interface MessageContext {
  /** The subject of the sender's verified admission token (token admission), else undefined. */
  readonly subject?: string | undefined;
}

/** What `POST /message` accepted: a whole message, or one chunk of a multipart message. */
export type Accepted = { readonly kind: 'message'; readonly tag: MessageTag } | { readonly kind: 'chunk' };

/** `GET /admin/status`. */
export interface CoordinatorStatus {
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
/** A message that waited longer than this for its turn in the queue is refused (503), not handled late. */
export const QUEUE_DEADLINE_MS = 30_000;

/**
 * The timing rules of the round's phase in progress. The sum2 phase waits for at least a majority
 * of the sum dictionary (protocol.md §1.3): unmask needs a mask backed by a majority, so ending
 * the phase with fewer Sum2 messages could only fail the round.
 */
function phaseRules(round: LiveRound): PhaseSettings {
  const { record } = round;
  const rules = record.pet[record.phase];
  if (record.phase !== 'sum2') return rules;
  const least = Math.min(Math.max(rules.count.min, majorityOf(round.sumDict.size)), rules.count.max);
  return { ...rules, count: { min: least, max: rules.count.max } };
}

export class Coordinator {
  private readonly crypto: PetCrypto;
  private readonly settings: Settings;
  private readonly store: CoordinatorStore;
  private readonly models: ModelStore;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly events: CoordinatorEvents;

  private round: LiveRound | undefined;
  private previous: PreviousRound | undefined;
  private phase: Phase = 'idle';
  private meta: CoordinatorMeta = DEFAULT_META;
  private lastRoundId = 0;
  private latestModel: { roundId: number; bytes: Uint8Array } | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private cancelTimer: (() => void) | undefined;
  private readonly accepted: Record<string, number> = {};
  private readonly rejected: Record<string, number> = {};
  private readonly startedAt: number;
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

  private constructor(deps: CoordinatorDeps) {
    this.crypto = deps.crypto;
    this.settings = deps.settings;
    this.store = deps.store;
    this.models = deps.models;
    this.clock = deps.clock ?? systemClock;
    this.log = deps.logger ?? silentLogger;
    this.events = deps.events ?? {};
    this.startedAt = this.clock.now();
    const { admission } = deps.settings;
    this.allowlist = admission.kind === 'allowlist' ? new Set(admission.allowlist) : undefined;
  }

  /** Loads the store, continues or fails a persisted round, and starts a round unless paused. */
  static async start(deps: CoordinatorDeps): Promise<Coordinator> {
    const coordinator = new Coordinator(deps);
    await coordinator.serialize(() => coordinator.init());
    return coordinator;
  }

  private async init(): Promise<void> {
    this.setMeta(await this.store.loadMeta());
    this.lastRoundId = await this.store.lastRoundId();
    const latest = await this.models.latest();
    if (latest !== undefined) this.latestModel = { roundId: latest.roundId, bytes: this.servedModel(latest) };

    let record: Awaited<ReturnType<CoordinatorStore['loadRound']>>;
    try {
      record = await this.store.loadRound();
    } catch (error) {
      const reason = `the stored round could not be loaded: ${(error as Error).message}`;
      this.log.error({ err: (error as Error).message }, reason);
      await this.store.endRound(this.summary(undefined, 'failed', reason));
      record = undefined;
    }
    if (record !== undefined) {
      const elapsed = this.clock.now() - record.phaseStartedAt;
      const deadline = record.pet[record.phase].time.maxMs;
      if (elapsed < deadline) {
        try {
          this.round = await restoreRound(this.store, record, this.settings);
          this.phase = record.phase;
          this.log.info({ roundId: record.roundId, phase: record.phase, elapsedMs: elapsed }, 'continuing round');
        } catch (error) {
          const reason = `the stored round ${record.roundId} could not be restored: ${(error as Error).message}`;
          this.log.error({ roundId: record.roundId }, reason);
          await this.store.endRound(this.summaryOfRecord(record, 'failed', reason));
        }
      } else {
        const reason = `coordinator restarted after the ${record.phase} phase deadline (${deadline} ms) of round ${record.roundId}`;
        this.log.warn({ roundId: record.roundId, phase: record.phase }, reason);
        const summary = this.summaryOfRecord(record, 'failed', reason);
        await this.store.endRound(summary);
        this.events.roundEnded?.(summary);
      }
    }
    await this.judge();
  }

  // ---- reads (no queue: they read the mirror) -------------------------------------------

  /** `GET /params`: the round parameters JSON, or undefined when no round is in progress. */
  paramsJson(): object | undefined {
    return this.round?.paramsJson;
  }

  /** `GET /sums`: the encoded sum dictionary once the sum phase has ended. */
  sumDictBytes(): Uint8Array | undefined {
    return this.round?.sumDictBytes;
  }

  /**
   * `GET /seeds?pk=`: the sum participant's update seed dictionary once the update phase has
   * ended; 'unknown' when `pk` is not in the sum dictionary.
   */
  updateSeedDict(pk: string): Uint8Array | undefined | 'unknown' {
    const round = this.round;
    if (round === undefined || round.record.phase !== 'sum2') return undefined;
    if (!round.sumDict.has(pk)) return 'unknown';
    return updateSeedDictBytes(round, pk);
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
      phase: this.phase,
      paused: this.meta.paused,
      roundStartedAt: record?.startedAt ?? null,
      phaseStartedAt: record?.phaseStartedAt ?? null,
      deadlines:
        record === undefined || timing === undefined
          ? null
          : { minAt: record.phaseStartedAt + timing.minMs, maxAt: record.phaseStartedAt + timing.maxMs },
      counts: round === undefined ? { sum: 0, update: 0, sum2: 0 } : { ...round.accepted },
      messages: { accepted: { ...this.accepted }, rejected: { ...this.rejected } },
      latestModelRoundId: this.latestModel?.roundId ?? null,
      chunks: {
        pendingMessages: round?.assembler.pendingMessages ?? 0,
        bytesHeld: round?.assembler.bytesHeld ?? 0,
      },
      banned: { participants: this.bannedParticipants.size, subjects: this.bannedSubjects.size },
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
    const between = this.phase === 'idle' || this.phase === 'shutdown' || record === undefined;
    return `${record?.roundId ?? '-'}.${between ? this.phase : record.phase}`;
  }

  /**
   * `GET /phase?after=&wait_ms=` (a long poll): resolves to the current token as soon as it
   * differs from `after` — at once if it already does — or after `waitMs` (or once `signal`
   * aborts) with the unchanged one. Participants waiting for the next phase hear of it within
   * a round trip instead of at their next poll.
   */
  waitForPhaseChange(after: string, waitMs: number, signal?: AbortSignal): Promise<string> {
    // A coordinator shutting down holds no new wait: the answer (`….shutdown`) is final here.
    const now = this.phaseToken();
    if (now !== after || waitMs <= 0 || signal?.aborted || this.phase === 'shutdown') return Promise.resolve(now);
    return new Promise((resolve) => {
      const done = () => {
        this.phaseWatchers.delete(check);
        cancel();
        signal?.removeEventListener('abort', done);
        resolve(this.phaseToken());
      };
      const check = (token: string) => {
        if (token !== after) done();
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

  history(limit: number): Promise<readonly RoundSummary[]> {
    return this.store.history(limit);
  }

  // ---- messages --------------------------------------------------------------------------

  /**
   * The message pipeline of `POST /message` after the body-size limit (protocol.md §3.2), cheap
   * checks first (docs/security.md §4): open and authenticate → tag vs phase → admission
   * (bans, allowlist, the token subject's identities) → duplicate → eligibility from the payload's
   * leading signatures (for a multipart message on chunk 0, before any chunk is held) → chunk
   * reassembly → full decode → phase handler. Throws a PetError for every rejection.
   */
  async handleMessage(sealed: Uint8Array, context: MessageContext = {}): Promise<Accepted> {
    try {
      const accepted = await this.process(sealed, context);
      const tag = accepted.kind === 'chunk' ? 'chunk' : accepted.tag;
      this.accepted[tag] = (this.accepted[tag] ?? 0) + 1;
      this.events.messageAccepted?.(tag, sealed.length);
      return accepted;
    } catch (error) {
      const code = isPetError(error) ? error.code : 'internal';
      this.rejected[code] = (this.rejected[code] ?? 0) + 1;
      this.events.messageRejected?.(code, sealed.length);
      throw error;
    }
  }

  private async process(sealed: Uint8Array, context: MessageContext): Promise<Accepted> {
    if (this.phase === 'shutdown') throw new PetError('unavailable', 'message: the coordinator is shutting down');
    const round = this.round;
    if (round === undefined) {
      this.rejectStale(sealed);
      throw new PetError('wrong-phase', 'message: no round is in progress');
    }
    const { record } = round;
    let frame: OpenedFrame;
    try {
      frame = openFrame(this.crypto, sealed, round.keyPair);
    } catch (error) {
      if (isPetError(error, 'decrypt-failed')) this.rejectStale(sealed);
      throw error;
    }
    const pk = toBase64Url(frame.participantPk);
    this.checkPhase(round, frame.tag);
    this.checkAdmitted(round, pk, context.subject);
    this.checkNotAccepted(round, frame.tag, pk);
    const admit = (prefix: Uint8Array) => {
      this.checkEligible(round, frame, pk, prefix);
      this.bindSubject(round, pk, context.subject);
    };

    let payloadBytes: Uint8Array;
    if (frame.multipart) {
      const whole = round.assembler.add(pk, TAGS[frame.tag], frame.body, admit);
      if (whole === undefined) return { kind: 'chunk' };
      payloadBytes = whole;
    } else {
      admit(frame.body);
      payloadBytes = frame.body;
    }
    const payload = decodePayload(frame.tag, payloadBytes, {
      config: record.maskConfig,
      modelLength: record.modelLength,
    });

    const queuedAt = this.clock.now();
    return this.serialize(async () => {
      if (this.phase === 'shutdown') throw new PetError('unavailable', 'message: the coordinator is shutting down');
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
      await this.judge();
      return { kind: 'message', tag: payload.kind };
    });
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

  /** Eligibility from the payload's leading signatures (a whole payload, or chunk 0's data). */
  private checkEligible(round: LiveRound, frame: OpenedFrame, pk: string, prefix: Uint8Array): void {
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

  /** A message that does not open with this round's key but opens with the last round's is late. */
  private rejectStale(sealed: Uint8Array): void {
    const previous = this.previous;
    if (previous === undefined) return;
    let opened = false;
    try {
      this.crypto.openSealed(sealed, previous.round.keyPair);
      opened = true;
    } catch {
      // not the previous round's either: the caller reports decrypt-failed
    }
    if (opened) {
      throw new PetError('wrong-round', `message: sealed to round ${previous.roundId}, which has ended`);
    }
  }

  private checkPhase(round: LiveRound, tag: MessageTag): void {
    const phase = round.record.phase;
    if (tag !== phase) {
      throw new PetError('wrong-phase', `message: a ${tag} message cannot be accepted in the ${phase} phase`);
    }
  }

  private checkNotAccepted(round: LiveRound, tag: MessageTag, pk: string): void {
    const done =
      tag === 'sum' ? round.sumDict.has(pk) : tag === 'update' ? round.updates.has(pk) : round.sum2Senders.has(pk);
    if (done) throw new PetError('duplicate-message', `${tag}: participant ${pk} already sent this message`);
  }

  // ---- phase transitions (always inside the queue) ---------------------------------------

  /** Judges the phase in progress, ending or failing it as often as needed; starts rounds. */
  private async judge(): Promise<void> {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    try {
      for (;;) {
        const round = this.round;
        if (round === undefined) {
          if (this.meta.paused || this.phase === 'shutdown') return;
          await this.startRound();
          continue;
        }
        const { record } = round;
        const elapsed = this.clock.now() - record.phaseStartedAt;
        const verdict = judgePhase(record.phase, phaseRules(round), round.accepted[record.phase], elapsed);
        if (verdict.kind === 'open') {
          this.schedule(record.phaseStartedAt + verdict.wakeAtMs - this.clock.now());
          return;
        }
        if (verdict.kind === 'fail') await this.endRound(round, 'failed', verdict.reason);
        else await this.endPhase(round);
      }
    } catch (error) {
      if (this.phase === 'shutdown') return;
      this.log.error({ err: (error as Error).message }, 'phase transition failed; retrying');
      this.schedule(RETRY_AFTER_STORE_ERROR_MS);
    }
  }

  private schedule(ms: number): void {
    this.cancelTimer?.();
    this.cancelTimer = this.clock.setTimer(ms, () => {
      this.cancelTimer = undefined;
      void this.serialize(() => this.judge());
    });
  }

  private async startRound(): Promise<void> {
    const roundId = this.lastRoundId + 1;
    const round = openRound(this.crypto, roundId, this.nextPet(), this.settings, this.clock.now());
    await this.store.startRound(round.record);
    this.lastRoundId = roundId;
    this.round = round;
    this.phase = 'sum';
    this.log.info({ roundId, phase: 'sum' }, 'round started');
  }

  private async endPhase(round: LiveRound): Promise<void> {
    const { record } = round;
    const now = this.clock.now();
    const duration = now - record.phaseStartedAt;
    round.assembler.dropIncomplete();
    if (record.phase === 'sum2') {
      this.events.phaseEnded?.('sum2', duration);
      round.record = { ...record, phaseDurationsMs: { ...record.phaseDurationsMs, sum2: duration } };
      await this.unmask(round);
      return;
    }
    const next: LivePhase = record.phase === 'sum' ? 'update' : 'sum2';
    const updated = {
      ...record,
      phase: next,
      phaseStartedAt: now,
      phaseDurationsMs: { ...record.phaseDurationsMs, [record.phase]: duration },
    };
    await this.store.saveRound(updated);
    if (record.phase === 'sum') round.sumDictBytes = encodeSumDict(round.sumDict);
    round.record = updated;
    this.phase = next;
    this.events.phaseEnded?.(record.phase, duration);
    this.log.info({ roundId: record.roundId, phase: next, accepted: round.accepted[record.phase] }, 'phase started');
  }

  private async unmask(round: LiveRound): Promise<void> {
    this.phase = 'unmask';
    const started = this.clock.now();
    const outcome = await unmaskRound(this.store, round, this.settings.safety);
    if (outcome.kind === 'failure') {
      if (outcome.offenders !== undefined) await this.ban(round, outcome.offenders);
      await this.endRound(round, 'failed', outcome.reason);
      return;
    }
    const global: GlobalModel = { roundId: round.record.roundId, model: outcome.model };
    // The model is durable before the round counts as completed: it is never lost.
    await this.models.save(global);
    this.latestModel = { roundId: global.roundId, bytes: this.servedModel(global) };
    const duration = this.clock.now() - started;
    this.events.phaseEnded?.('unmask', duration);
    await this.endRound(round, 'completed', undefined, duration);
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

  private async endRound(
    round: LiveRound,
    outcome: 'completed' | 'failed',
    reason?: string,
    unmaskMs?: number,
  ): Promise<void> {
    const summary = this.summary(round, outcome, reason, unmaskMs);
    await this.store.endRound(summary);
    if (this.previous !== undefined) closeRound(this.crypto, this.previous.round);
    round.assembler.dropIncomplete();
    this.previous = { roundId: round.record.roundId, round };
    this.round = undefined;
    this.phase = 'idle';
    this.events.roundEnded?.(summary);
    const log = { roundId: summary.roundId, outcome, participants: summary.participants };
    if (outcome === 'failed') this.log.warn({ ...log, reason }, 'round failed');
    else this.log.info(log, 'round completed');
  }

  private summary(
    round: LiveRound | undefined,
    outcome: 'completed' | 'failed',
    reason?: string,
    unmaskMs?: number,
  ): RoundSummary {
    const now = this.clock.now();
    if (round === undefined) {
      return {
        roundId: this.lastRoundId,
        outcome,
        ...(reason === undefined ? {} : { failureReason: reason }),
        startedAt: now,
        endedAt: now,
        phaseDurationsMs: {},
        participants: { sum: 0, update: 0, sum2: 0 },
      };
    }
    const { record } = round;
    const durations: RoundSummary['phaseDurationsMs'] = {
      ...record.phaseDurationsMs,
      ...(outcome === 'failed' && record.phaseDurationsMs[record.phase] === undefined
        ? { [record.phase]: now - record.phaseStartedAt }
        : {}),
      ...(unmaskMs === undefined ? {} : { unmask: unmaskMs }),
    };
    return {
      roundId: record.roundId,
      outcome,
      ...(reason === undefined ? {} : { failureReason: reason }),
      startedAt: record.startedAt,
      endedAt: now,
      phaseDurationsMs: durations,
      participants: { ...round.accepted },
    };
  }

  private summaryOfRecord(record: LiveRound['record'], outcome: 'failed', reason: string): RoundSummary {
    const now = this.clock.now();
    return {
      roundId: record.roundId,
      outcome,
      failureReason: reason,
      startedAt: record.startedAt,
      endedAt: now,
      phaseDurationsMs: record.phaseDurationsMs,
      participants: { sum: 0, update: 0, sum2: 0 },
    };
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
    });
  }

  resume(): Promise<void> {
    return this.serialize(async () => {
      await this.saveMeta({ ...this.meta, paused: false });
      this.log.info({}, 'resumed');
      await this.judge();
    });
  }

  /** Changes the PET settings of the rounds that start from now on (validated; SettingsError lists problems). */
  changeSettings(change: unknown): Promise<RoundPetSettings> {
    return this.serialize(async () => {
      const pet = changePetSettings(this.nextPet(), change, this.settings.mask, this.settings.safety);
      await this.saveMeta({ ...this.meta, nextPet: pet });
      this.log.info({ pet }, 'next-round settings changed');
      return pet;
    });
  }

  private async saveMeta(meta: CoordinatorMeta): Promise<void> {
    await this.store.saveMeta(meta);
    this.setMeta(meta);
  }

  private setMeta(meta: CoordinatorMeta): void {
    this.meta = meta;
    this.bannedParticipants = new Set(meta.banned?.participants ?? []);
    this.bannedSubjects = new Set(meta.banned?.subjects ?? []);
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
      if (this.phase === 'shutdown') return; // already: a second call (node.ts's close) changes nothing
      this.phase = 'shutdown';
      this.cancelTimer?.();
      this.cancelTimer = undefined;
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
      for (const check of [...this.phaseWatchers]) check(token);
    });
    return run;
  }
}
