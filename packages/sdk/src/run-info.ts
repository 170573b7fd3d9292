/**
 * `fetchRunInfo` — what training run a coordinator is running (`GET /run`): its vector layout
 * (what the entries of the masked vector mean: update, control-variate delta, evaluation;
 * docs/learning.md §2), the server strategy, where the run stands and the round of the served
 * global model. An app reads it once before it spawns its participant, to set up its local
 * algorithm for the layout (`@petfl/tfjs`'s `TfjsParticipant` takes the layout as `run.layout`).
 *
 * ```text
 * GET /run → 200 application/json
 *   { "run": null }                                  no run is configured
 *   { "run": { "layout": VectorLayout,               validateVectorLayout (@petfl/core)
 *              "strategy": "fedavg",                 the server strategy, a non-empty string
 *              "round": 3, "rounds": 100,            integers ≥ 0
 *              "status": "running" | "ended",
 *              "ended": null | { "reason": "…", "roundId": 7 },
 *              "modelRoundId": null | 2,             the round the served global model came from
 *              "nextRound": "train" | "evaluate" } }  an evaluation-only round comes next
 * ```
 *
 * Errors follow the coordinator client (client/http-client.ts): a network failure, a 5xx
 * answer or a body that does not decode is `CoordinatorUnavailableError` (with the status when
 * an answer came), a 4xx answer is `CoordinatorRejectedError` with the JSON body's code — a
 * coordinator without training runs answers 404. Unlike the client, one attempt only: the
 * app decides when to ask again. Unknown keys are ignored (newer coordinators may add fields).
 */

import { PetError, type VectorLayout, validateVectorLayout } from '@petfl/core';
import { CoordinatorRejectedError, CoordinatorUnavailableError } from './client/coordinator-client.ts';
import type { FetchLike, ResponseLike } from './client/http-client.ts';
import { describe } from './plain-data.ts';
import type { AbortSignalLike } from './state-machine/io.ts';

/** Where a run stands. */
export type RunStatus = 'running' | 'ended';

/** How a run ended: why, and in which round. */
export interface RunEnd {
  readonly reason: string;
  readonly roundId: number;
}

/** A coordinator's training run, as `GET /run` serves it. Plain data. */
export interface RunInfo {
  /** What the masked vector and the served global model hold. */
  readonly layout: VectorLayout;
  /** The server strategy acting on the average update ("fedavg", "fedadam", …). */
  readonly strategy: string;
  /** The run's current round (as the coordinator counts them). */
  readonly round: number;
  /** The rounds the run is configured for. */
  readonly rounds: number;
  readonly status: RunStatus;
  /** Null while the run is running. */
  readonly ended: RunEnd | null;
  /** The round the served global model (`GET /model`) came from; null while there is none. */
  readonly modelRoundId: number | null;
  /**
   * What the next round is for: "train", or "evaluate" — the run's training rounds are done and the
   * next round only evaluates the final model (updates are set aside; a participant may skip training).
   */
  readonly nextRound: 'train' | 'evaluate';
  /**
   * The run's central differential privacy (docs/learning.md §7), or null: the coordinator adds
   * noise of `noiseMultiplier` · `clipNorm` to the sum of the updates (each clipped to `clipNorm`
   * by `encodeContribution`, from the layout) and has spent `epsilon` at `delta` so far.
   */
  readonly privacy: RunPrivacy | null;
}

export interface RunPrivacy {
  readonly mechanism: string;
  readonly clipNorm: number;
  readonly noiseMultiplier: number;
  readonly delta: number;
  readonly epsilon: number;
  /** 0: no budget. */
  readonly budgetEpsilon: number;
}

export interface FetchRunInfoOptions {
  /** Default `globalThis.fetch`. */
  readonly fetch?: FetchLike;
  /** Aborts the request; `fetchRunInfo` then rejects with `signal.reason`. */
  readonly signal?: AbortSignalLike;
}

const LABEL = 'GET /run';

/**
 * The coordinator's training run at `coordinatorUrl` (the same base URL the participant is
 * spawned with), or null when it runs none. Throws as the module comment says.
 */
export async function fetchRunInfo(coordinatorUrl: string, options: FetchRunInfoOptions = {}): Promise<RunInfo | null> {
  const fetch = options.fetch ?? (globalThis as { fetch?: FetchLike }).fetch;
  if (typeof fetch !== 'function') {
    throw new PetError('invalid-field', `fetchRunInfo fetch: expected a fetch function, got ${describe(fetch)}`);
  }
  const { signal } = options;
  const throwIfAborted = (): void => {
    if (signal?.aborted) throw signal.reason ?? new Error('aborted');
  };
  throwIfAborted();
  const url = `${coordinatorUrl.replace(/\/+$/, '')}/run`;
  let response: ResponseLike;
  try {
    response = await fetch(url, signal === undefined ? { method: 'GET' } : { method: 'GET', signal });
  } catch (cause) {
    throwIfAborted();
    throw new CoordinatorUnavailableError(`${LABEL}: network error: ${messageOf(cause)}`, { cause });
  }
  const { status } = response;
  let text: string;
  try {
    text = await response.text();
  } catch (cause) {
    throwIfAborted();
    throw new CoordinatorUnavailableError(`${LABEL}: could not read the answer: ${messageOf(cause)}`, {
      cause,
      status,
    });
  }
  if (status !== 200) throw failure(status, text);
  try {
    return decodeRunInfo(JSON.parse(text));
  } catch (cause) {
    throw new CoordinatorUnavailableError(`${LABEL}: malformed run info: ${messageOf(cause)}`, { cause, status });
  }
}

/**
 * Checks a `GET /run` body (parsed JSON) and returns the run as fresh plain data, or null.
 * Throws `invalid-field` naming the first field that is not as the module comment draws it.
 */
export function decodeRunInfo(body: unknown): RunInfo | null {
  if (!isRecord(body)) throw bad(`expected an object, got ${describe(body)}`);
  if (!('run' in body)) throw bad('run: missing');
  const { run } = body;
  if (run === null) return null;
  if (!isRecord(run)) throw bad(`run: expected an object or null, got ${describe(run)}`);
  const layout = validateVectorLayout(run['layout']);
  const { strategy, status, ended, modelRoundId, nextRound = 'train' } = run;
  if (nextRound !== 'train' && nextRound !== 'evaluate') {
    throw bad(`run.nextRound: expected "train" or "evaluate", got ${describe(nextRound)}`);
  }
  if (typeof strategy !== 'string' || strategy === '') {
    throw bad(`run.strategy: expected a non-empty string, got ${describe(strategy)}`);
  }
  const round = count(run['round'], 'run.round');
  const rounds = count(run['rounds'], 'run.rounds');
  if (status !== 'running' && status !== 'ended') {
    throw bad(`run.status: expected "running" or "ended", got ${describe(status)}`);
  }
  let end: RunEnd | null = null;
  if (ended !== null) {
    if (!isRecord(ended)) throw bad(`run.ended: expected an object or null, got ${describe(ended)}`);
    const { reason } = ended;
    if (typeof reason !== 'string') throw bad(`run.ended.reason: expected a string, got ${describe(reason)}`);
    end = { reason, roundId: count(ended['roundId'], 'run.ended.roundId') };
  }
  const modelRound = modelRoundId === null ? null : count(modelRoundId, 'run.modelRoundId');
  const privacy = decodePrivacy(run['privacy']);
  return { layout, strategy, round, rounds, status, ended: end, modelRoundId: modelRound, nextRound, privacy };
}

/** `run.privacy`: null (or absent, from a coordinator before differential privacy), or its numbers. */
function decodePrivacy(value: unknown): RunPrivacy | null {
  if (value === undefined || value === null) return null;
  if (!isRecord(value)) throw bad(`run.privacy: expected an object or null, got ${describe(value)}`);
  const { mechanism } = value;
  if (typeof mechanism !== 'string') throw bad(`run.privacy.mechanism: expected a string, got ${describe(mechanism)}`);
  const number = (field: 'clipNorm' | 'noiseMultiplier' | 'delta' | 'epsilon' | 'budgetEpsilon'): number => {
    const n = value[field];
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
      throw bad(`run.privacy.${field}: expected a finite number ≥ 0, got ${describe(n)}`);
    }
    return n;
  };
  return {
    mechanism,
    clipNorm: number('clipNorm'),
    noiseMultiplier: number('noiseMultiplier'),
    delta: number('delta'),
    epsilon: number('epsilon'),
    budgetEpsilon: number('budgetEpsilon'),
  };
}

function bad(message: string): PetError {
  return new PetError('invalid-field', message);
}

function count(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw bad(`${field}: expected an integer ≥ 0, got ${describe(value)}`);
  }
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A non-200 answer: 4xx → rejected, anything else → unavailable; the code and message from its JSON body. */
function failure(status: number, text: string): Error {
  let code: string | undefined;
  let message: string | undefined;
  try {
    const json: unknown = JSON.parse(text);
    if (isRecord(json)) {
      if (typeof json['code'] === 'string') code = json['code'];
      if (typeof json['message'] === 'string') message = json['message'];
    }
  } catch {
    // no or non-JSON body: the status alone must do
  }
  const detail = message === undefined ? '' : `: ${message}`;
  if (status >= 400 && status < 500) {
    const shown = code ?? 'unknown';
    return new CoordinatorRejectedError(status, shown, `${LABEL}: rejected with ${status} ${shown}${detail}`);
  }
  return new CoordinatorUnavailableError(
    `${LABEL}: answered ${status}${code === undefined ? '' : ` ${code}`}${detail}`,
    {
      status,
    },
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
