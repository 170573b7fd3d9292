/**
 * The ingest pool (ingest-pool.ts): real sealed messages opened and decoded on worker threads,
 * the round's aggregate still exact and its decisions those of one message at a time; a worker
 * that dies answers its message 503 and is replaced; closing leaves no thread. Phases end by
 * count with a manual clock: nothing waits on time.
 */

import {
  decodeGlobalModel,
  ENCRYPTED_MASK_SEED_BYTES,
  encodePayload,
  initCrypto,
  Masker,
  type MaskObject,
  PackedMaskObject,
  type Payload,
  type PetError,
  type RoundParameters,
  toBase64Url,
} from '@petfl/core';
import { FIXTURE_CONFIG } from '@petfl/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { expectAverage, type Harness, startHarness, testSettings } from '../../test-support/harness.ts';
import { CRASH_MARKER } from '../../test-support/ingest-crash.ts';
import {
  fetchParams,
  fetchSeeds,
  fetchSumDict,
  identities,
  pickTasks,
  post,
  randomModel,
  type Selected,
  type SumParticipant,
  sum2Message,
  sumMessage,
  updateMessage,
} from '../../test-support/sim.ts';
import { inProcessIngest, type MessageIngest } from '../state-machine/ingest.ts';
import { IngestPool, PACKED_MAX_WORKERS } from './ingest-pool.ts';
import { detached } from './ingest-serve.ts';

/** The served model is f32: one rounding of the exact average. */
const F32 = (r: number) => Math.abs(r) * 2 ** -24;
const CRASHING = new URL('../../test-support/crashing-ingest-worker.ts', import.meta.url);
const OCTETS = { 'content-type': 'application/octet-stream' };

/** Worker threads of this process (the diagnostic report lists every running one). */
const threads = () => (process.report.getReport() as { workers: unknown[] }).workers.length;

let h: Harness | undefined;
const pools: IngestPool[] = [];
afterEach(async () => {
  await h?.close();
  h = undefined;
  for (const pool of pools.splice(0)) await pool.close();
});

/**
 * An ingest that opens a batch of `batch` messages last-first: each open waits for as many turns of
 * the event loop as calls are still to come in the batch. Decodes then finish in the order they
 * were asked for — which is that reversed order too, unless the coordinator restores the order of
 * arrival.
 */
function lastFirst(inner: MessageIngest, batch = 12): MessageIngest {
  let opens = 0;
  const turns = async (n: number) => {
    for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  return {
    open: async (request) => {
      await turns(4 * (batch - (opens++ % batch)));
      return inner.open(request);
    },
    decode: async (request) => {
      await turns(2);
      return inner.decode(request);
    },
  };
}

/** The sum phase through HTTP; returns the round, its update participants and the sum dictionary. */
async function throughSum(harness: Harness, updates: number, label: number) {
  const { crypto, fetch } = harness;
  const params = await fetchParams(fetch);
  const picked = pickTasks(crypto, params, identities(crypto, 200, label), { sum: 3, update: updates });
  for (const p of picked.sum) expect(await post(fetch, sumMessage(crypto, params, p))).toEqual({ status: 202 });
  const sumDict = (await fetchSumDict(fetch)) ?? new Map();
  expect(sumDict.size).toBe(3);
  return { params, sum: picked.sum, update: picked.update, sumDict };
}

/** The sum2 phase through HTTP, then the global model. */
async function throughSum2(harness: Harness, params: RoundParameters, sum: readonly SumParticipant[]) {
  const { crypto, fetch } = harness;
  for (const p of sum) {
    const seeds = (await fetchSeeds(fetch, p.pk)) ?? new Map();
    expect(await post(fetch, sum2Message(crypto, params, p, seeds))).toEqual({ status: 202 });
  }
  const res = await fetch('/model');
  expect(res.status).toBe(200);
  const global = decodeGlobalModel(new Uint8Array(await res.arrayBuffer()));
  expect(global.roundId).toBe(params.roundId);
  return global;
}

describe('ingest workers', () => {
  const ways = [
    { name: 'in the coordinator’s thread', workers: 0, reversed: false },
    { name: 'on two worker threads', workers: 2, reversed: false },
    { name: 'by an ingest that answers the last call first', workers: 0, reversed: true },
  ];
  it.each(ways)(
    'opened $name: updates sent all at once are taken in the order they arrived, and the round averages exactly',
    async ({ workers, reversed }) => {
      const before = threads();
      const settings = testSettings({ PETFL_API_INGEST_WORKERS: String(workers) });
      const crypto = await initCrypto();
      h = await startHarness(settings, reversed ? { ingest: lastFirst(inProcessIngest(crypto)) } : {});
      expect(threads()).toBe(before + workers);
      // count.max = 10 updates: eleven participants, and a second update from the third one.
      const { params, sum, update, sumDict } = await throughSum(h, 11, 41);
      const models = update.map((_, i) => randomModel(params.modelLength, 700 + i));
      const scalars = update.map((_, i) => 0.5 + (i % 4));
      const messages = update.map((p, i) =>
        updateMessage(crypto, params, p, sumDict, models[i] ?? [], scalars[i] ?? 1),
      );
      const again = updateMessage(
        crypto,
        params,
        update[2] as Selected,
        sumDict,
        randomModel(params.modelLength, 9),
        3,
      );
      const arriving = [...messages.slice(0, 4), again, ...messages.slice(4)].map((parts) => parts[0] as Uint8Array);

      // All in flight at once: any of them may be opened first.
      const coordinator = h.coordinator;
      const answers = await Promise.allSettled(arriving.map((m) => coordinator.handleMessage(m, { handOver: true })));
      const codes = answers.map((a) => (a.status === 'fulfilled' ? 'accepted' : (a.reason as PetError).code));
      expect(codes).toEqual([
        ...Array(4).fill('accepted'),
        'duplicate-message', // the third participant's second update: its first came earlier
        ...Array(6).fill('accepted'),
        'wrong-phase', // the eleventh update: the tenth ended the phase
      ]);
      // Handed over to a worker, the bytes were moved, not copied: the caller's arrays are detached.
      expect(arriving.map((m) => m.byteLength === 0)).toEqual(arriving.map(() => workers > 0));
      if (workers === 0) {
        // In the coordinator's thread they were opened where they lay: each now holds its opened
        // message (signature, then the participant's key), not a copy of it elsewhere.
        const senders = [...update.slice(0, 4), update[2], ...update.slice(4)] as Selected[];
        expect(arriving.map((m) => toBase64Url(m.subarray(64, 96)))).toEqual(senders.map((p) => p.pk));
      }

      const global = await throughSum2(h, params, sum);
      expectAverage(h.settings, global.model, models.slice(0, 10), scalars.slice(0, 10), F32);
    },
  );

  it.each([
    { name: 'in the coordinator’s thread', workers: 0 },
    { name: 'on two worker threads', workers: 2 },
  ])(
    'multipart updates decoded $name: their parts are joined where they are decoded, and the round averages exactly',
    async ({ workers }) => {
      const crypto = await initCrypto();
      const decoded: string[] = [];
      const inner = workers === 0 ? inProcessIngest(crypto) : await IngestPool.start({ workers });
      if (inner instanceof IngestPool) pools.push(inner);
      // What the coordinator asks to decode: a whole payload, or its parts not yet joined.
      const spying: MessageIngest = {
        open: (request) => inner.open(request),
        decode: (request) => {
          decoded.push(request.bytes instanceof Uint8Array ? 'whole' : `${request.bytes.length} parts`);
          return inner.decode(request);
        },
      };
      h = await startHarness(testSettings(), { ingest: spying });
      const { params, sum, update, sumDict } = await throughSum(h, 10, 44);
      decoded.length = 0; // the sum messages': whole
      const models = update.map((_, i) => randomModel(params.modelLength, 900 + i));
      const scalars = update.map((_, i) => 1 + (i % 3));
      // 1000 weights in chunks of at most 1500 bytes: an update in 5 (6,375 bytes of masked model).
      const chunked = update.map((p, i) =>
        updateMessage(crypto, params, p, sumDict, models[i] ?? [], scalars[i] ?? 1, 1500),
      );
      expect(chunked.map((chunks) => chunks.length)).toEqual(update.map(() => 5));
      // All the chunks of all the updates in flight at once, chunk 0 of each first.
      const order = [...chunked.map((c) => c[0]), ...chunked.flatMap((c) => c.slice(1))] as Uint8Array[];
      const answers = await Promise.all(order.map((m) => h?.coordinator.handleMessage(m, { handOver: true })));
      expect(answers.filter((a) => a?.kind === 'message')).toHaveLength(10);
      expect(decoded).toEqual(update.map(() => '5 parts'));

      const global = await throughSum2(h, params, sum);
      expectAverage(h.settings, global.model, models, scalars, F32);
    },
  );

  it('a worker that dies holding a message answers it 503 unavailable, is replaced, and the round completes exactly', async () => {
    const pool = await IngestPool.start({ workers: 2, entry: CRASHING });
    pools.push(pool);
    h = await startHarness(testSettings(), { ingest: pool });
    const { crypto, fetch } = h;
    const { params, sum, update, sumDict } = await throughSum(h, 10, 42);
    const started = pool.threadIds();

    const poison = new Uint8Array(256);
    poison.set(CRASH_MARKER);
    const res = await fetch('/message', { method: 'POST', body: poison, headers: OCTETS });
    expect(res.status).toBe(503);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe('unavailable');
    expect(body.message).toMatch(/ingest worker .*stopped/);
    expect(pool.replaced).toBe(1);
    expect(pool.workers).toBe(2);
    const now = pool.threadIds();
    expect(now.filter((id) => started.includes(id))).toHaveLength(1);

    const models = update.map((_, i) => randomModel(params.modelLength, 800 + i));
    const scalars = update.map((_, i) => 1 + (i % 3));
    for (const [i, p] of update.entries()) {
      const [message] = updateMessage(crypto, params, p, sumDict, models[i] ?? [], scalars[i] ?? 1);
      expect(await post(fetch, message as Uint8Array)).toEqual({ status: 202 });
    }
    const global = await throughSum2(h, params, sum);
    expectAverage(h.settings, global.model, models, scalars, F32);
  });

  it('closing the coordinator answers the messages in the workers 503 and ends every worker thread', async () => {
    const before = threads();
    h = await startHarness(testSettings({ PETFL_API_INGEST_WORKERS: '2' }));
    expect(threads()).toBe(before + 2);
    const { params, update, sumDict } = await throughSum(h, 10, 43);
    const [message] = updateMessage(h.crypto, params, update[0] as Selected, sumDict, randomModel(1000, 1), 1);
    const inFlight = h.coordinator.handleMessage(message as Uint8Array, { handOver: true });
    const closing = h.close();
    h = undefined;
    await expect(inFlight).rejects.toMatchObject({ code: 'unavailable' });
    await closing;
    expect(threads()).toBe(before);
  });

  it('keeps a masked model packed in its payload’s buffer, moved back from a worker; unpacks bytes not handed over', async () => {
    const crypto = await initCrypto();
    const length = 70_001;
    const maskedModel = new Masker(crypto, FIXTURE_CONFIG).mask(randomModel(length, 5), 1).masked;
    const update = {
      sumSignature: new Uint8Array(64).fill(1),
      updateSignature: new Uint8Array(64).fill(2),
      maskedModel,
      localSeedDict: new Map([[toBase64Url(new Uint8Array(32).fill(3)), new Uint8Array(ENCRYPTED_MASK_SEED_BYTES)]]),
    };
    const payload = encodePayload({ kind: 'update', update });
    const expectation = { config: FIXTURE_CONFIG, modelLength: length };
    const masked = (decoded: Payload): MaskObject => {
      if (decoded.kind !== 'update') throw new Error(`expected an update, got ${decoded.kind}`);
      return decoded.update.maskedModel;
    };
    const pool = await IngestPool.start({ workers: 1 });
    pools.push(pool);
    const moved = payload.slice();
    const fromWorker = masked(await pool.decode({ tag: 'update', bytes: moved, handOver: true, expect: expectation }));
    expect(moved.byteLength).toBe(0); // moved to the worker
    expect(fromWorker).toBeInstanceOf(PackedMaskObject);
    // The payload's own buffer came back with the packed vector in it: not a copy of the vector.
    expect(fromWorker.packed?.buffer.byteLength).toBe(payload.byteLength);
    expect(Array.from(fromWorker.vector)).toEqual(Array.from(maskedModel.vector));
    expect(Array.from(fromWorker.scalar)).toEqual(Array.from(maskedModel.scalar));

    // A caller that asks for arrays gets them from a worker too.
    const asked = masked(
      await pool.decode({
        tag: 'update',
        bytes: payload.slice(),
        handOver: true,
        expect: { ...expectation, packed: false },
      }),
    );
    expect(asked.packed).toBeUndefined();

    // With more workers than PACKED_MAX_WORKERS, the workers unpack: the coordinator's thread keeps only the add.
    const wide = await IngestPool.start({ workers: PACKED_MAX_WORKERS + 1 });
    pools.push(wide);
    const unpacked = masked(
      await wide.decode({ tag: 'update', bytes: payload.slice(), handOver: true, expect: expectation }),
    );
    expect(unpacked.packed).toBeUndefined();
    expect(Array.from(unpacked.vector)).toEqual(Array.from(maskedModel.vector));

    // On the coordinator's thread: packed in bytes handed over, unpacked from bytes the caller keeps.
    const inProcess = inProcessIngest(crypto);
    const handed = payload.slice();
    const kept = masked(await inProcess.decode({ tag: 'update', bytes: handed, handOver: true, expect: expectation }));
    expect(kept.packed?.buffer).toBe(handed.buffer);
    const lent = payload.slice();
    const copied = masked(await inProcess.decode({ tag: 'update', bytes: lent, handOver: false, expect: expectation }));
    expect(copied.packed).toBeUndefined();
    expect(Array.from(copied.vector)).toEqual(Array.from(maskedModel.vector));
  });

  it('moves large arrays that own their buffer across threads, and copies small views', () => {
    const transfer = new Set<ArrayBuffer>();
    const vector = new Float64Array(100_000);
    const body = new Uint8Array(1 << 20);
    const seed = body.subarray(10, 42);
    const out = detached({ vector, dict: new Map([['k', seed]]), n: 3 }, transfer) as {
      vector: Float64Array;
      dict: Map<string, Uint8Array>;
      n: number;
    };
    expect(out.vector).toBe(vector);
    expect(out.dict.get('k')).not.toBe(seed);
    expect(out.dict.get('k')).toEqual(seed);
    expect(out.dict.get('k')?.buffer.byteLength).toBe(32);
    expect(out.n).toBe(3);
    expect([...transfer]).toEqual([vector.buffer]);
  });
});
