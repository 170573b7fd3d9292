/**
 * The test page for one participant: the SDK from its built bundles (by its
 * public names, through the page's import map), in direct or Worker mode,
 * driven by the tests through `window.petflTest` (support/page-api.ts).
 */

import {
  type AsyncParticipant,
  deserializeState,
  MemoryStateStore,
  ParticipantABC,
  type ParticipantHandle,
  type ParticipantSnapshot,
  PetflError,
  spawnParticipant as spawnDirect,
  spawnAsyncParticipant as spawnDirectAsync,
} from '@petfl/sdk';
import {
  spawnParticipant as spawnWorker,
  spawnAsyncParticipant as spawnWorkerAsync,
  type WorkerParticipantOptions,
} from '@petfl/sdk/worker';
import type {
  LongFrame,
  LongTask,
  ParticipantPageApi,
  PhaseLogEntry,
  RawIdbValue,
  StartConfig,
} from '../support/page-api.ts';

// Long tasks from the start, so none is missed.
const longTasks: LongTask[] = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) longTasks.push({ startTime: entry.startTime, duration: entry.duration });
}).observe({ type: 'longtask', buffered: true });
const longFrames: LongFrame[] = [];
interface FrameScript {
  invoker: string;
  sourceURL: string;
  duration: number;
}
new PerformanceObserver((list) => {
  for (const entry of list.getEntries() as (PerformanceEntry & { scripts: FrameScript[] })[]) {
    const scripts = entry.scripts.map(
      (s) => `${s.invoker} ${Math.round(s.duration)} ms ${s.sourceURL.slice(s.sourceURL.lastIndexOf('/') + 1)}`,
    );
    longFrames.push({ startTime: entry.startTime, duration: entry.duration, scripts });
  }
}).observe({ type: 'long-animation-frame', buffered: true });

/** A ParticipantABC whose every local model is `value` everywhere. */
class Constant extends ParticipantABC<Float32Array | Float64Array, Float32Array> {
  private readonly value: number;
  private readonly length: number;

  constructor(value: number, length: number) {
    super();
    this.value = value;
    this.length = length;
  }
  trainRound(input: Float32Array | Float64Array | null): Float32Array {
    return new Float32Array(input?.length ?? this.length).fill(this.value);
  }
  serializeTrainingResult(result: Float32Array): ArrayLike<number> {
    return result;
  }
  deserializeTrainingInput(globalModel: Float32Array | Float64Array): Float32Array | Float64Array {
    return globalModel;
  }
}

let running: { handle: ParticipantHandle | AsyncParticipant; async?: AsyncParticipant } | undefined;
const errors: string[] = [];
/** Every (round, phase) the running participant's snapshots went through, in order. */
const phaseLog: PhaseLogEntry[] = [];

function describeError(error: Error): string {
  return `${error.name}: ${error instanceof PetflError ? error.code : '-'}: ${error.message}`;
}

async function start(config: StartConfig): Promise<ParticipantSnapshot> {
  const options: WorkerParticipantOptions = {
    logLevel: 'warn',
    pollMs: config.pollMs ?? 20,
    maxPollMs: 200,
    onError: (error) => errors.push(describeError(error)),
    ...(config.storeKey === undefined ? {} : { storeKey: config.storeKey }),
    ...(config.store === 'memory' ? { store: new MemoryStateStore() } : {}),
    ...(config.workerUrl === undefined ? {} : { workerUrl: config.workerUrl }),
  };
  const url = config.coordinatorUrl;
  if (config.kind === 'abc') {
    const abc = new Constant(config.abcValue ?? 1, config.modelLength);
    const handle =
      config.mode === 'worker' ? await spawnWorker(url, abc, options) : await spawnDirect(url, abc, options);
    running = { handle };
  } else {
    const { participant } =
      config.mode === 'worker' ? await spawnWorkerAsync(url, options) : await spawnDirectAsync(url, options);
    running = { handle: participant, async: participant };
  }
  const { handle } = running;
  // Recorded as they come, so a test never has to poll fast enough to see a short-lived phase.
  const record = () => {
    const { roundId, phase, task, bytesSent } = handle.getSnapshot();
    const last = phaseLog.at(-1);
    if (last?.roundId !== roundId || last.phase !== phase) phaseLog.push({ roundId, phase, task, bytesSent });
  };
  handle.subscribe(record);
  record();
  return handle.getSnapshot();
}

function requireRunning(): NonNullable<typeof running> {
  if (running === undefined) throw new Error('no participant started on this page');
  return running;
}

/** Every byte array and CryptoKey inside a stored value. */
async function inspect(value: unknown, out: Omit<RawIdbValue, 'key'>, depth = 0): Promise<void> {
  if (depth > 16 || value === null || typeof value !== 'object') return;
  if (value instanceof CryptoKey) {
    let exportRejected = false;
    await crypto.subtle.exportKey('raw', value).catch(() => {
      exportRejected = true;
    });
    out.cryptoKeys.push({
      extractable: value.extractable,
      algorithm: value.algorithm.name,
      usages: [...value.usages],
      exportRejected,
    });
    return;
  }
  if (value instanceof ArrayBuffer) {
    out.bytes.push(Array.from(new Uint8Array(value)));
    return;
  }
  if (ArrayBuffer.isView(value)) {
    out.bytes.push(Array.from(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)));
    return;
  }
  for (const item of Object.values(value)) await inspect(item, out, depth + 1);
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function readIdb(dbName: string): Promise<RawIdbValue[]> {
  const db = await request(indexedDB.open(dbName));
  try {
    const out: RawIdbValue[] = [];
    for (const storeName of Array.from(db.objectStoreNames)) {
      const store = db.transaction(storeName, 'readonly').objectStore(storeName);
      const [keys, values] = await Promise.all([request(store.getAllKeys()), request(store.getAll())]);
      for (let i = 0; i < keys.length; i++) {
        const found: Omit<RawIdbValue, 'key'> = { bytes: [], cryptoKeys: [] };
        await inspect(values[i], found);
        out.push({ key: String(keys[i]), ...found });
      }
    }
    return out;
  } finally {
    db.close();
  }
}

const api: ParticipantPageApi = {
  async start(config) {
    if (running !== undefined) throw new Error('a participant runs on this page already');
    return start(config);
  },
  snapshot: () => running?.handle.getSnapshot() ?? null,
  setLocalModel(length, value) {
    const participant = requireRunning().async;
    if (participant === undefined) throw new Error('not an AsyncParticipant');
    const model = new Float32Array(length).fill(value);
    const t0 = performance.now();
    participant.setLocalModel(model);
    return performance.now() - t0;
  },
  async stop() {
    const bytes = await requireRunning().handle.stop();
    running = undefined;
    const { identity } = deserializeState(bytes);
    return { publicKey: Array.from(identity.publicKey), secretKey: Array.from(identity.secretKey) };
  },
  errors: () => [...errors],
  phaseLog: () => [...phaseLog],
  longTasks: () => [...longTasks],
  longFrames: () => [...longFrames],
  now: () => performance.now(),
  readIdb,
};

window.petflTest = api;
window.petflReady = true;
