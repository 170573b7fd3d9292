/**
 * What the test pages put on `window` for the tests to drive with
 * `page.evaluate` (pages/*.ts implement it). Plain data in and out: these
 * calls cross from Node into the page.
 */

import type { ParticipantSnapshot } from '@petfl/sdk';

export interface StartConfig {
  readonly coordinatorUrl: string;
  /** 'direct': the protocol on the page's main thread; 'worker': `@petfl/sdk/worker`. */
  readonly mode: 'direct' | 'worker';
  /** 'async': an AsyncParticipant fed by `setLocalModel`; 'abc': a ParticipantABC whose trainRound returns `abcValue`s. */
  readonly kind: 'async' | 'abc';
  readonly abcValue?: number;
  readonly modelLength: number;
  readonly storeKey?: string;
  /** 'default': the SDK's (IndexedDB); 'memory': nothing persists. */
  readonly store: 'default' | 'memory';
  /** Worker mode: the Worker script's URL (default: the SDK's own, next to the bundle). */
  readonly workerUrl?: string;
  readonly pollMs?: number;
}

export interface LongTask {
  readonly startTime: number;
  readonly duration: number;
}

/** A long animation frame (> 50 ms) and the scripts that ran in it, e.g. `IDBRequest.onsuccess 60 ms chunk-X.js`. */
export interface LongFrame extends LongTask {
  readonly scripts: string[];
}

export interface RawIdbValue {
  readonly key: string;
  /** Every byte array inside the value (Uint8Array, ArrayBuffer), as plain number arrays. */
  readonly bytes: number[][];
  /** The CryptoKeys inside the value. */
  readonly cryptoKeys: { extractable: boolean; algorithm: string; usages: string[]; exportRejected: boolean }[];
}

export interface PhaseLogEntry {
  readonly roundId: number | null;
  readonly phase: ParticipantSnapshot['phase'];
  readonly task: ParticipantSnapshot['task'];
  readonly bytesSent: number;
}

export interface ParticipantPageApi {
  start(config: StartConfig): Promise<ParticipantSnapshot>;
  snapshot(): ParticipantSnapshot | null;
  /** AsyncParticipant: a model of `length` weights, all `value`; the milliseconds the SDK's `setLocalModel` took. */
  setLocalModel(length: number, value: number): number;
  /** stop(): the state's identity keys (public, secret) from the serialized state. */
  stop(): Promise<{ publicKey: number[]; secretKey: number[] }>;
  /** Errors onError got: `${name}: ${code}: ${message}`. */
  errors(): string[];
  /** Every (round, phase) the participants started on this page went through, as their snapshots came. */
  phaseLog(): PhaseLogEntry[];
  /** The page's long tasks (PerformanceObserver 'longtask', observed since the page loaded). */
  longTasks(): LongTask[];
  /** The page's long animation frames, with script attribution: what a long task was, for a failure message. */
  longFrames(): LongFrame[];
  now(): number;
  /** Every value of IndexedDB `dbName`'s object stores, raw (as stored). */
  readIdb(dbName: string): Promise<RawIdbValue[]>;
}

export interface TfjsPageApi {
  /** selectBackend(), then a few training steps of a tiny dense model; the losses, first to last. */
  train(steps: number): Promise<{
    /** What selectBackend picked, and the backend active while the model trained. */
    backend: string;
    trainedOn: string;
    skipped: string[];
    losses: number[];
    /** navigator.gpu gave an adapter. */
    adapter: boolean;
  }>;
}

declare global {
  interface Window {
    petflTest: ParticipantPageApi;
    petflTfjs: TfjsPageApi;
    petflReady: boolean;
  }
}

/**
 * The errors of `ParticipantPageApi.errors()` that are faults: round errors the coordinator's
 * refusals cause (a late sum message: 'wrong-phase', a round that moved on: 'wrong-round', …)
 * are the protocol working and are left out.
 */
export function faults(errors: readonly string[]): string[] {
  const fault = /^(?!PetflError: )|^PetflError: (callback-failed|worker-error|store-failed|internal): /;
  return errors.filter((e) => fault.test(e));
}
