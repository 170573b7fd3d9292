/**
 * The pages' settings, from the query string, parsed and checked once
 * (docs/architecture.md §7.4): each problem names the parameter, what was expected and
 * what came.
 */

import { DEFAULT_EPOCHS, DEMO_SHARDS, denseWeightCount, PAGE_MODELS } from './demo.ts';
import type { Split } from './mnist.ts';

export const DEFAULT_COORDINATOR = 'http://127.0.0.1:8081';
const BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'];

/**
 * The participant page's models (`model=`): demo.ts's PAGE_MODELS. The coordinator's
 * `model.length` must be the chosen one's weight count (`modelLength`).
 */
export const MODELS = PAGE_MODELS;
export type ModelName = keyof typeof MODELS;
const MODEL_NAMES = Object.keys(MODELS) as ModelName[];

/** The weights of the page model `name`: the coordinator's `model.length` for it. */
export function modelLength(name: ModelName): number {
  return denseWeightCount(MODELS[name]);
}

export interface ParticipantParams {
  readonly coordinator: string;
  readonly shard: number;
  readonly shards: number;
  readonly split: Split;
  /** `plain` is BENCHMARK ONLY (apps/web/test-hooks/plain.ts, e2e builds only): no secure aggregation. */
  readonly mode: 'worker' | 'direct' | 'plain';
  readonly backends: readonly string[];
  readonly storeKey: string;
  readonly epochs: number;
  /** The model the page trains (`model=`, default `demo`): see MODELS. */
  readonly model: ModelName;
  /** Its layer sizes, input first. */
  readonly layers: readonly number[];
  /** `chunk_kib=`: the SDK's `maxChunkData` in KiB (1..15360); the SDK's default when absent. */
  readonly chunkKib: number | undefined;
}

/** The dashboard's URL parameters; the admin token is never one (it is typed into the page). */
export interface DashboardParams {
  readonly coordinator: string;
}

export class ParamsError extends Error {
  override readonly name = 'ParamsError';
}

function int(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ParamsError(`${name}: expected an integer in ${min}..${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function coordinatorUrl(query: URLSearchParams): string {
  const raw = query.get('coordinator') ?? DEFAULT_COORDINATOR;
  try {
    const url = new URL(raw);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(url.protocol);
  } catch {
    throw new ParamsError(`coordinator: expected an http(s) URL, got ${JSON.stringify(raw)}`);
  }
  return raw.replace(/\/+$/, '');
}

export function participantParams(search: string): ParticipantParams {
  const query = new URLSearchParams(search);
  const shards = int(query, 'shards', DEMO_SHARDS, 1, 1000);
  const shard = int(query, 'shard', 0, 0, shards - 1);
  const split = query.get('split') ?? 'iid';
  if (split !== 'iid' && split !== 'noniid') {
    throw new ParamsError(`split: expected iid or noniid, got ${JSON.stringify(split)}`);
  }
  const mode = query.get('mode') ?? 'worker';
  if (mode !== 'worker' && mode !== 'direct' && mode !== 'plain') {
    throw new ParamsError(`mode: expected worker, direct or plain, got ${JSON.stringify(mode)}`);
  }
  const backends = (query.get('backends') ?? BACKENDS.join(','))
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
  const unknown = backends.filter((b) => !BACKENDS.includes(b));
  if (backends.length === 0 || unknown.length > 0) {
    throw new ParamsError(
      `backends: expected a list of ${BACKENDS.join(', ')}, got ${JSON.stringify(query.get('backends'))}`,
    );
  }
  const model = query.get('model') || 'demo';
  if (!MODEL_NAMES.includes(model as ModelName)) {
    throw new ParamsError(`model: expected ${MODEL_NAMES.join(' or ')}, got ${JSON.stringify(model)}`);
  }
  return {
    coordinator: coordinatorUrl(query),
    shard,
    shards,
    split,
    mode,
    backends,
    storeKey: query.get('storeKey') || `petfl/demo/${split}-shard-${shard}`,
    epochs: int(query, 'epochs', DEFAULT_EPOCHS, 1, 100),
    model: model as ModelName,
    layers: MODELS[model as ModelName],
    chunkKib: query.get('chunk_kib') ? int(query, 'chunk_kib', 0, 1, 15 * 1024) : undefined,
  };
}

export function dashboardParams(search: string): DashboardParams {
  const query = new URLSearchParams(search);
  return { coordinator: coordinatorUrl(query) };
}
