// An outside Node app in plain JavaScript (ESM, no TypeScript, no tsx): `node participant.mjs <url> [count]`
// runs `count` participants (default 5) with the SDK's public API — `ParticipantABC` +
// `spawnParticipant` from '@petfl/sdk', `fileStateStore` from '@petfl/sdk/node' — against the
// coordinator at <url> until every one of them has received a global model, stops them, and
// prints one JSON line with what happened. Exits 1 (with the participants' snapshots on stderr)
// when that takes longer than PETFL_FIXTURE_TIMEOUT_MS (default 120 s).

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ParticipantABC, spawnParticipant } from '@petfl/sdk';
import { fileStateStore } from '@petfl/sdk/node';

const [url, countArg = '5'] = process.argv.slice(2);
if (url === undefined) throw new Error('usage: node participant.mjs <coordinator url> [count]');
const count = Number(countArg);
const timeoutMs = Number(process.env.PETFL_FIXTURE_TIMEOUT_MS ?? 120_000);
const stateDir = join(process.cwd(), 'participant-state');

// Every participant sends weights centre + STEP·j: whichever of them the round aggregates, the
// weighted average is (average centre) + STEP·j, so each global model has that shape.
const STEP = 0.01;

const params = await fetch(`${url}/params`);
if (params.status !== 200) throw new Error(`GET ${url}/params answered ${params.status}`);
const { modelLength } = await params.json();

class ConstantParticipant extends ParticipantABC {
  #centre;
  #received;
  trained = 0;
  models = [];

  constructor(centre, received) {
    super();
    this.#centre = centre;
    this.#received = received;
  }

  async trainRound(input) {
    this.trained += 1;
    const length = input?.length ?? modelLength;
    return Float32Array.from({ length }, (_, j) => this.#centre + STEP * j);
  }

  serializeTrainingResult(result) {
    return result;
  }

  deserializeTrainingInput(globalModel) {
    return Float32Array.from(globalModel);
  }

  onNewGlobalModel(model) {
    this.models.push(model);
    this.#received();
  }
}

const errors = [];
const participants = [];
const received = [];
for (let i = 0; i < count; i++) {
  let resolve;
  received.push(
    new Promise((r) => {
      resolve = r;
    }),
  );
  participants.push(new ConstantParticipant(0.1 * (i + 1), resolve));
}
const handles = await Promise.all(
  participants.map((participant, i) =>
    spawnParticipant(url, participant, {
      store: fileStateStore({ dir: stateDir }),
      storeKey: `participant-${i}`,
      pollMs: 100,
      maxPollMs: 1000,
      onError: (error) => errors.push({ participant: i, name: error.name, code: error.code, message: error.message }),
    }),
  ),
);

let timer;
const timedOut = new Promise((resolve) => {
  timer = setTimeout(() => resolve('timeout'), timeoutMs);
});
const outcome = await Promise.race([Promise.all(received).then(() => 'received'), timedOut]);
clearTimeout(timer);
if (outcome === 'timeout') {
  process.stderr.write(
    `not every participant received a global model within ${timeoutMs} ms:\n${JSON.stringify(
      { snapshots: handles.map((h) => h.getSnapshot()), received: participants.map((p) => p.models.length), errors },
      null,
      2,
    )}\n`,
  );
  await Promise.all(handles.map((h) => h.stop()));
  process.exit(1);
}

const snapshots = handles.map((h) => h.getSnapshot());
const states = await Promise.all(handles.map((h) => h.stop()));

// The latest global model as the coordinator serves it (protocol.md §3.10): a 12-byte header —
// round id (u32, big-endian), data type (0 f32, 1 f64), 3 reserved bytes, count (u32, big-endian) —
// then the values, little-endian. Its ETag is "<round id>-<digest>".
const modelResponse = await fetch(`${url}/model`);
const body = new Uint8Array(await modelResponse.arrayBuffer());
const header = new DataView(body.buffer, body.byteOffset, body.byteLength);
const latest = {
  status: modelResponse.status,
  etag: modelResponse.headers.get('etag'),
  roundId: header.getUint32(0, false),
  dataType: header.getUint8(4),
  length: header.getUint32(8, false),
  bytes: body.byteLength,
};

const files = readdirSync(stateDir).sort();
process.stdout.write(
  `${JSON.stringify({
    node: process.version,
    modelLength,
    step: STEP,
    latest,
    participants: participants.map((p, i) => ({
      participantPk: snapshots[i].participantPk,
      roundId: snapshots[i].roundId,
      trained: p.trained,
      stateBytes: states[i].length,
      models: p.models.map((m) => ({ type: m.constructor.name, length: m.length, weights: Array.from(m) })),
    })),
    stateDir: {
      mode: statSync(stateDir).mode & 0o777,
      files: files.map((name) => ({ name, mode: statSync(join(stateDir, name)).mode & 0o777 })),
    },
    errors,
  })}\n`,
);
