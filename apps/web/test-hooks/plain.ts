/**
 * BENCHMARK ONLY — `mode=plain` on the participant page. No privacy at all: the
 * trained model goes to the server in the clear. It exists so that
 * `npm run bench:e2e` can time the same tabs, the same data and the same
 * training with petfl's secure aggregation replaced by plain federated
 * averaging (the server of e2e/support/plain-coordinator.ts), which makes the
 * cost of privacy a measured ratio. Never point it at a real deployment.
 *
 * The loop mirrors the SDK's: wait for a round with the same backoff, the
 * wait cut short by a long poll (`GET /plain/round?after=`, as the SDK's
 * `GET /phase`), fetch
 * the latest global model, train (`trainRound`), send
 * `serializeTrainingResult` as little-endian float32, wait for the next round.
 * It returns the SDK's `ParticipantHandle` shape, so the page renders and
 * records it like a real participant. Test-only (apps/web/test-hooks/): a
 * production build of the demo does not contain it (index.ts).
 */

import type { ParticipantABC, ParticipantHandle, ParticipantSnapshot } from '@petfl/sdk';

export interface PlainOptions {
  readonly scalar: number;
  readonly pollMs: number;
  readonly maxPollMs: number;
}

interface PlainRound {
  readonly roundId: number;
}

const ERROR_CODE = 'plain-benchmark';

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function fetchOk(url: string, init?: RequestInit): Promise<Response> {
  const response = await fetch(url, init);
  if (response.status >= 400)
    throw new Error(`${init?.method ?? 'GET'} ${url}: ${response.status} ${await response.text()}`);
  return response;
}

export async function spawnPlainParticipant<R>(
  serverUrl: string,
  participant: ParticipantABC<Float32Array | Float64Array, R>,
  options: PlainOptions,
): Promise<ParticipantHandle> {
  const listeners = new Set<() => void>();
  const stop = new AbortController();
  let snapshot: ParticipantSnapshot = Object.freeze({
    participantPk: `plain-${crypto.randomUUID()}`,
    phase: 'new-round',
    task: 'none',
    roundId: null,
    training: false,
    bytesSent: 0,
    lastError: null,
  });
  const update = (change: Partial<ParticipantSnapshot>) => {
    snapshot = Object.freeze({ ...snapshot, ...change });
    for (const listener of listeners) listener();
  };

  let lastModelRound = -1;
  const globalModel = async (): Promise<Float32Array | null> => {
    const response = await fetchOk(`${serverUrl}/plain/model`);
    if (response.status === 204) return null;
    const modelRound = Number(response.headers.get('x-round-id'));
    const model = new Float32Array(await response.arrayBuffer());
    if (modelRound !== lastModelRound) {
      lastModelRound = modelRound;
      participant.onNewGlobalModel(participant.deserializeTrainingInput(model));
    }
    return model;
  };

  const loop = async () => {
    let done = -1;
    let wait = options.pollMs;
    while (!stop.signal.aborted) {
      try {
        const round = (await (
          await fetchOk(`${serverUrl}/plain/round?after=${done}&wait_ms=${wait}`)
        ).json()) as PlainRound;
        if (round.roundId === done) {
          update({ phase: 'awaiting', roundId: round.roundId });
          wait = Math.min(options.maxPollMs, wait * 2);
          continue;
        }
        update({ phase: 'update', task: 'update', roundId: round.roundId });
        const input = await globalModel();
        if (!(await participant.participateInUpdateTask())) {
          done = round.roundId;
          continue;
        }
        update({ training: true });
        let result: R;
        try {
          result = await participant.trainRound(input === null ? null : participant.deserializeTrainingInput(input));
        } finally {
          update({ training: false });
        }
        const body = Float32Array.from(participant.serializeTrainingResult(result));
        update({ phase: 'sending' });
        await fetchOk(`${serverUrl}/plain/update?round=${round.roundId}&scalar=${options.scalar}`, {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream' },
          body,
        });
        update({ phase: 'awaiting', bytesSent: snapshot.bytesSent + body.byteLength });
        done = round.roundId;
        wait = options.pollMs;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        update({ lastError: { code: ERROR_CODE, message, roundId: snapshot.roundId }, training: false });
        await sleep(options.maxPollMs, stop.signal);
      }
    }
  };
  void loop();

  return {
    getSnapshot: () => snapshot,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async stop() {
      stop.abort();
      update({ phase: 'stopped' });
      participant.onStop();
      return new Uint8Array(0);
    },
  };
}
