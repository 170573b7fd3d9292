/**
 * What the main-thread handle and the Worker say to each other (over
 * channel.ts). One Worker runs one participant runtime (runtime.ts).
 *
 * Main → Worker calls: `start(StartRequest) → RuntimeView` (the runtime is
 * created; its start-up errors come back as their named classes),
 * `globalModel() → GlobalModel | undefined`, `stop() → Uint8Array`.
 * Main → Worker events: `setTraining(boolean)`, `reportError(ReportedError)`,
 * `wake()`.
 * Worker → main calls: `localModel(roundId, round)` (the app's callbacks run
 * on the main thread), `onStop()`, and — only for options the app set to its
 * own objects, which cannot cross — `store(StoreOp)`, `fetch(FetchRequest)`,
 * `token()` (a token function's answer).
 * Worker → main events: `view(RuntimeView)` (the snapshot or the round
 * changed), `globalModel(GlobalModelEvent)`, `error(ErrorEvent)`,
 * `log(LogEvent)`.
 *
 * Everything here is structured-clonable plain data; models and states are
 * transferred (their buffers moved), never shared.
 */

import type { GlobalModel, PrivacyFilter, RoundParameters } from '@petfl/core';
import type { LogLevel } from '../logger.ts';
import type { ReportContext } from '../runtime.ts';
import type { ParticipantSnapshot } from '../snapshot.ts';
import type { ParticipantPrivacyOptions } from '../state-machine/privacy.ts';
import type { WireError } from './wire-error.ts';

/** The options that cross as they are; the others are proxied (`proxied`) or stay on the main thread. */
export interface PortableOptions {
  // SECURITY: a serialized state holds the participant's private keys; it goes to the Worker only.
  readonly state?: Uint8Array;
  readonly scalar?: number;
  readonly storeKey?: string;
  readonly logLevel?: LogLevel;
  // SECURITY: an admission token given as a string (a bearer credential) goes to the Worker, which sends it.
  readonly token?: string;
  readonly pollMs?: number;
  readonly maxPollMs?: number;
  readonly maxChunkData?: number;
  readonly privacy?: ParticipantPrivacyOptions;
  readonly privacyFilters?: readonly PrivacyFilter[];
}

export interface StartRequest {
  readonly coordinatorUrl: string;
  readonly options: PortableOptions;
  /** Which app objects the Worker reaches through the main thread. */
  readonly proxied: {
    readonly store: boolean;
    readonly fetch: boolean;
    readonly logger: boolean;
    readonly onError: boolean;
    /** The token is a function: the Worker calls `token()` on the main thread for each fresh one. */
    readonly token: boolean;
  };
}

/** What the main thread mirrors of the runtime. */
export interface RuntimeView {
  readonly snapshot: ParticipantSnapshot;
  readonly round: RoundParameters | undefined;
}

/** An error the app side met, for the runtime's `reportError`; `token` finds the original again. */
export interface ReportedError {
  readonly error: WireError;
  readonly context: ReportContext;
  readonly token: number;
}

export interface ErrorEvent {
  readonly error: WireError;
  /** Set when the error is one the main thread reported: its token. */
  readonly token: number | undefined;
}

export interface LogEvent {
  readonly level: Exclude<LogLevel, 'silent'>;
  readonly message: string;
}

export interface GlobalModelEvent {
  readonly global: GlobalModel;
  readonly round: RoundParameters | undefined;
}

export type StoreOp = readonly ['get', string] | readonly ['set', string, unknown] | readonly ['del', string];

export interface FetchRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array | string | null;
}

export interface FetchAnswer {
  readonly status: number;
  readonly body: ArrayBuffer;
  /** The answer's `Retry-After` header, the one header the client reads. */
  readonly retryAfter: string | null;
}
