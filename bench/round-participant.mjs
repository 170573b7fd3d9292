/**
 * One participant process of `npm run bench:round` (bench/round.bench.ts): COUNT participants,
 * each an AsyncParticipant from the *built* `@petfl/sdk` (plain Node, no tsx, no source
 * condition) — what an app that installed the package runs. Each sets a fixed random local model
 * before every round (no training: the bench measures the protocol, not TensorFlow.js), fetches
 * every new global model, and reports what it did as JSON lines on stdout:
 *
 *   {"e":"ready","n":COUNT}
 *   {"e":"task","p":i,"r":roundId,"task":"sum"|"update","t":ms}   its task is known
 *   {"e":"sent","p":i,"r":roundId,"task":…,"t":ms}                 a message of its task is accepted
 *   {"e":"model","p":i,"t":ms,"req":bytes,"res":bytes,"n":count}  it holds a new global model
 *   {"e":"error","p":i,"code":…,"message":…}
 *
 * `t` is Date.now() (one clock for every process on the machine); `req`/`res` count request and
 * response bodies so far (the wire, before HTTP framing), `n` the requests made so far. It stops
 * on SIGTERM.
 *
 *   {"e":"phase","p":i,"r":roundId,"phase":…,"t":ms}              with ROUND_TRACE=1: every phase change
 *   {"e":"req","p":i,"m":method,"path":…,"t":ms}                 with ROUND_TRACE=1: every request
 *
 * Environment: ROUND_URL, ROUND_COUNT, ROUND_WEIGHTS, ROUND_FIRST (index of its first participant),
 * ROUND_TRACE.
 */

import { setMaxListeners } from 'node:events';
import { spawnAsyncParticipant } from '@petfl/sdk';
import { nodeHttpFetch } from '@petfl/sdk/node';

const url = process.env.ROUND_URL;
const count = Number(process.env.ROUND_COUNT ?? '1');
const weights = Number(process.env.ROUND_WEIGHTS ?? '1000');
const first = Number(process.env.ROUND_FIRST ?? '0');
const trace = process.env.ROUND_TRACE === '1';
if (url === undefined) throw new Error('ROUND_URL is not set');

const transport = nodeHttpFetch();
if (transport === undefined) throw new Error('the SDK has no node:http transport here');
const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
process.stdout.on('error', () => process.exit(0)); // the bench went away

/** A deterministic model in [-1, 1) for participant `p` (xorshift32; values need not be random). */
function modelOf(p) {
  const model = new Float32Array(weights);
  let x = (p + 1) * 2654435761;
  for (let i = 0; i < weights; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    model[i] = ((x >>> 0) / 2 ** 32) * 2 - 1;
  }
  return model;
}

function bodyBytes(body) {
  if (body === undefined || body === null) return 0;
  if (typeof body === 'string') return Buffer.byteLength(body);
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return body.byteLength;
  return 0;
}

const stopping = new AbortController();
setMaxListeners(0, stopping.signal); // every participant's model loop waits on it
const participants = [];

/** Starts participant `p`; resolves once it has joined, with its model loop's promise. */
async function start(p) {
  const wire = { req: 0, res: 0, n: 0 };
  // The SDK's default transport on Node.js (ADR 0015), wrapped only to count the bytes.
  const countingFetch = async (input, init) => {
    wire.req += bodyBytes(init?.body);
    wire.n++;
    if (trace) {
      const path = String(input).replace(/^https?:\/\/[^/]+/, '');
      emit({ e: 'req', p, m: init?.method ?? 'GET', path, t: Date.now() });
    }
    const response = await transport(input, init);
    wire.res += Number(response.headers.get('content-length') ?? 0);
    return response;
  };
  const { participant, globalModelNotifier } = await spawnAsyncParticipant(url, {
    fetch: countingFetch,
    storeKey: `bench-${p}`,
    logLevel: 'error',
    onError: (error) => emit({ e: 'error', p, code: error.code ?? error.name, message: error.message }),
  });
  participants.push(participant);
  const model = modelOf(p);
  let last = { round: null, task: 'none', phase: '' };
  participant.subscribe(() => {
    const s = participant.getSnapshot();
    const t = Date.now();
    if (s.task !== 'none' && (s.roundId !== last.round || s.task !== last.task)) {
      emit({ e: 'task', p, r: s.roundId, task: s.task, t });
    }
    const failed = s.lastError !== null && s.lastError.roundId === last.round;
    if (last.phase === 'sending' && s.phase !== 'sending' && !failed) {
      emit({ e: 'sent', p, r: last.round, task: last.task, t });
    }
    if (trace && (s.phase !== last.phase || s.roundId !== last.round))
      emit({ e: 'phase', p, r: s.roundId, phase: s.phase, t });
    last = { round: s.roundId, task: s.task, phase: s.phase };
  });
  participant.setLocalModel(model);
  return { done: loop(participant, globalModelNotifier, model, wire, p) };
}

async function loop(participant, globalModelNotifier, model, wire, p) {
  while (!stopping.signal.aborted) {
    try {
      await globalModelNotifier.wait(stopping.signal);
    } catch {
      break;
    }
    const global = await participant.getGlobalModel().catch((error) => {
      emit({ e: 'error', p, code: error.code ?? error.name, message: error.message });
      return null;
    });
    if (global !== null) emit({ e: 'model', p, t: Date.now(), req: wire.req, res: wire.res, n: wire.n });
    participant.setLocalModel(model);
  }
}

process.on('SIGTERM', () => {
  stopping.abort();
  Promise.allSettled(participants.map((participant) => participant.stop())).then(() => process.exit(0));
});

const loops = await Promise.all(Array.from({ length: count }, (_, i) => start(first + i)));
emit({ e: 'ready', n: count });
await Promise.all(loops.map((l) => l.done));
