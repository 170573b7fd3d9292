/**
 * A training run's checkpoint (docs/learning.md §6): everything besides the global model that the
 * run needs to go on exactly where it was — the strategy's state (moments, step), the federated
 * metrics of every evaluated round, early stopping's best and count, and why the run ended. One
 * is saved with every completed round, before the round's model (store/model-store.ts), so the
 * latest model always has its checkpoint and a restart continues the run bit for bit.
 *
 * ```text
 * bytes      field
 * 0..4       magic "PFRC"
 * 4..8       u32 BE  format version (1)
 * 8..12      u32 BE  J, the length of the JSON part
 * 12..12+J   UTF-8 JSON: the checkpoint without the strategy's vectors, which it lists as
 *            [name, length] pairs in order
 * …          zero bytes up to a multiple of 8
 * …          the strategy's vectors, float64 little-endian, in the listed order; nothing after
 * ```
 */

import { validateAccountantState } from '@petfl/core';
import type { PrivacyLedger } from './central-privacy.ts';
import type { EarlyStoppingState } from './early-stopping.ts';
import type { StrategyState } from './strategy/strategy.ts';

/** The federated metrics a round's participants reported on the global model they started from. */
export interface EvaluationRecord {
  /** The global model evaluated (0: the initial model). */
  readonly modelRoundId: number;
  /** The round whose masked vectors carried the metrics. */
  readonly roundId: number;
  /** Example-weighted means by metric; null when no participant evaluated. */
  readonly values: Readonly<Record<string, number>> | null;
}

/** Why a run ended. */
export interface RunEnd {
  readonly reason: 'rounds' | 'early-stopping' | 'privacy-budget';
  readonly message: string;
  /** The round after which it ended. */
  readonly roundId: number;
}

export interface RunCheckpoint {
  readonly v: 1;
  /** The global model this checkpoint goes with (0: the initial model). */
  readonly roundId: number;
  /** The run's completed training rounds. */
  readonly runRound: number;
  readonly strategy: StrategyState;
  /** Every evaluation so far, oldest first. */
  readonly evaluations: readonly EvaluationRecord[];
  readonly earlyStopping: EarlyStoppingState;
  readonly ended: RunEnd | null;
  /** Set when this round restored the run to the checkpoint of that round (`POST /admin/run/restore`). */
  readonly restoredFrom?: number;
  /** With differential privacy: the accountant's ledger and the ε spent after each round. */
  readonly privacy?: PrivacyLedger;
}

/** A checkpoint that cannot be decoded: the store reports it as corrupt. */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
}

const MAGIC = [0x50, 0x46, 0x52, 0x43]; // "PFRC"
const VERSION = 1;
const HEAD = 12;

export function encodeCheckpoint(checkpoint: RunCheckpoint): Uint8Array {
  const names = Object.keys(checkpoint.strategy.vectors).sort();
  const vectors = names.map((name) => checkpoint.strategy.vectors[name] as Float64Array);
  const json = new TextEncoder().encode(
    JSON.stringify({
      ...checkpoint,
      strategy: {
        v: checkpoint.strategy.v,
        step: checkpoint.strategy.step,
        vectors: names.map((name, i) => [name, (vectors[i] as Float64Array).length]),
      },
    }),
  );
  const start = Math.ceil((HEAD + json.length) / 8) * 8;
  const total = start + vectors.reduce((n, vector) => n + vector.length * 8, 0);
  const bytes = new Uint8Array(total);
  bytes.set(MAGIC, 0);
  const view = new DataView(bytes.buffer);
  view.setUint32(4, VERSION, false);
  view.setUint32(8, json.length, false);
  bytes.set(json, HEAD);
  let at = start;
  for (const vector of vectors) {
    for (let i = 0; i < vector.length; i++) view.setFloat64(at + i * 8, vector[i] as number, true);
    at += vector.length * 8;
  }
  return bytes;
}

function fail(message: string): never {
  throw new CheckpointError(`run checkpoint: ${message}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

export function decodeCheckpoint(bytes: Uint8Array): RunCheckpoint {
  if (bytes.length < HEAD || MAGIC.some((byte, i) => bytes[i] !== byte)) fail('not a checkpoint (no "PFRC" magic)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, false);
  if (version !== VERSION) fail(`expected format version ${VERSION}, got ${version}`);
  const jsonLength = view.getUint32(8, false);
  if (HEAD + jsonLength > bytes.length) fail(`the JSON part (${jsonLength} bytes) runs past the end`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(HEAD, HEAD + jsonLength)));
  } catch (error) {
    fail(`the JSON part is not JSON (${(error as Error).message})`);
  }
  if (!isRecord(parsed) || parsed['v'] !== 1) fail('expected a version-1 checkpoint object');
  const { roundId, runRound, strategy, evaluations, earlyStopping, ended, restoredFrom, privacy } = parsed;
  let ledger: PrivacyLedger | undefined;
  if (privacy !== undefined) {
    if (!isRecord(privacy) || !Array.isArray(privacy['spent'])) fail('privacy: expected { accountant, spent }');
    try {
      validateAccountantState(privacy['accountant']);
    } catch (error) {
      fail(`privacy.accountant: ${(error as Error).message}`);
    }
    for (const entry of privacy['spent'] as unknown[]) {
      if (!isRecord(entry) || !isCount(entry['roundId']) || typeof entry['epsilon'] !== 'number') {
        fail('privacy.spent: expected { roundId, epsilon } records');
      }
    }
    const clipNorm = privacy['clipNorm'];
    if (clipNorm !== undefined && !(typeof clipNorm === 'number' && Number.isFinite(clipNorm) && clipNorm > 0)) {
      fail('privacy.clipNorm: expected a finite number > 0');
    }
    ledger = privacy as unknown as PrivacyLedger;
  }
  if (restoredFrom !== undefined && !isCount(restoredFrom)) fail('restoredFrom: expected a round id');
  if (!isCount(roundId) || !isCount(runRound)) fail('roundId and runRound must be counts');
  if (!isRecord(strategy) || strategy['v'] !== 1 || !isCount(strategy['step']) || !Array.isArray(strategy['vectors'])) {
    fail('strategy: expected { v: 1, step, vectors }');
  }
  if (!Array.isArray(evaluations)) fail('evaluations: expected a list');
  for (const record of evaluations) {
    if (
      !isRecord(record) ||
      !isCount(record['modelRoundId']) ||
      !isCount(record['roundId']) ||
      !(record['values'] === null || isRecord(record['values']))
    ) {
      fail('evaluations: expected { modelRoundId, roundId, values } records');
    }
  }
  if (!isRecord(earlyStopping) || !isCount(earlyStopping['stuck'])) fail('earlyStopping: expected { best, stuck }');
  const best = earlyStopping['best'];
  if (!(best === null || (isRecord(best) && isCount(best['roundId']) && typeof best['value'] === 'number'))) {
    fail('earlyStopping.best: expected null or { roundId, value }');
  }
  if (!(ended === null || (isRecord(ended) && typeof ended['message'] === 'string' && isCount(ended['roundId'])))) {
    fail('ended: expected null or { reason, message, roundId }');
  }
  let at = Math.ceil((HEAD + jsonLength) / 8) * 8;
  const vectors: Record<string, Float64Array> = {};
  for (const entry of strategy['vectors'] as unknown[]) {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !isCount(entry[1])) {
      fail('strategy.vectors: expected [name, length] pairs');
    }
    const [name, length] = entry as [string, number];
    if (at + length * 8 > bytes.length) fail(`strategy vector "${name}" runs past the end`);
    const vector = new Float64Array(length);
    for (let i = 0; i < length; i++) vector[i] = view.getFloat64(at + i * 8, true);
    vectors[name] = vector;
    at += length * 8;
  }
  if (at !== bytes.length) fail(`${bytes.length - at} bytes after the strategy's vectors`);
  return {
    v: 1,
    roundId,
    runRound,
    strategy: { v: 1, step: strategy['step'] as number, vectors },
    evaluations: evaluations as EvaluationRecord[],
    earlyStopping: earlyStopping as unknown as EarlyStoppingState,
    ended: ended as RunEnd | null,
    ...(restoredFrom === undefined ? {} : { restoredFrom }),
    ...(ledger === undefined ? {} : { privacy: ledger }),
  };
}
