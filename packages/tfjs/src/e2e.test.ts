/**
 * End to end: a real coordinator in process (every request through
 * `app.request`) and 4 TfjsParticipants run by `spawnParticipant`, each
 * training the same tiny dense model on its own shard of one regression task
 * with the wasm backend. Waits on state (completed rounds), never on time.
 */

import {
  systemClock as coordinatorClock,
  createCoordinatorApp,
  MemoryModelStore,
  parseSettings,
} from '@petfl/coordinator';
import { initCrypto } from '@petfl/core';
import { MemoryStateStore, type ParticipantHandle, spawnParticipant } from '@petfl/sdk';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PARTICIPANTS, runSettingsToml } from '../test-support/run-settings.ts';
import { lossOf, syntheticData, tinyModel, useWasm } from '../test-support/tfjs.ts';
import { TfjsParticipant } from './tfjs-participant.ts';
import { modelToVector, vectorToModel, weightCount } from './weights.ts';

const ROUNDS = 2;

const SETTINGS = runSettingsToml({ adminToken: 'e2e-admin', modelLength: 49 });

/** Records what each trainRound started from. */
class RecordingParticipant extends TfjsParticipant {
  readonly inputs: (Float32Array | Float64Array | null)[] = [];

  override trainRound(input: Float32Array | Float64Array | null): Promise<tf.LayersModel> {
    this.inputs.push(input === null ? null : input.slice());
    return super.trainRound(input);
  }
}

beforeAll(useWasm);
const handles: ParticipantHandle[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const handle of handles.splice(0)) await handle.stop();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

it('4 TfjsParticipants and a real coordinator: rounds complete and the global model learns', async () => {
  const crypto = await initCrypto();
  const models = new MemoryModelStore();
  const created = await createCoordinatorApp(parseSettings(SETTINGS, {}), {
    crypto,
    models,
    clock: coordinatorClock,
  });
  cleanups.push(() => created.close());

  // The same starting weights everywhere, as an app shipping one initial model would have.
  const initial = modelToVector(tinyModel({ seed: 1 }));
  const test = syntheticData(200, 999);
  cleanups.push(() => tf.dispose([test.xs, test.ys]));
  const reference = tinyModel({ seed: 1 });
  const initialLoss = await lossOf(reference, test);

  const participants: RecordingParticipant[] = [];
  for (let i = 0; i < PARTICIPANTS; i++) {
    const model = tinyModel({ seed: 1 });
    vectorToModel(model, initial);
    const shard = syntheticData(48, 100 + i);
    cleanups.push(() => tf.dispose([shard.xs, shard.ys]));
    const participant = new RecordingParticipant({ model, data: shard, fit: { epochs: 4, batchSize: 16 } });
    participants.push(participant);
    handles.push(
      await spawnParticipant('http://petfl.test', participant, {
        fetch: async (url, init) => created.app.request(String(url), init as RequestInit),
        store: new MemoryStateStore(),
        // Rounds with no sum participant fail (test-support/run-settings.ts): their rejections are not news.
        logLevel: 'error',
        pollMs: 10,
        maxPollMs: 100,
      }),
    );
  }

  const completed = async (): Promise<number[]> =>
    (await created.coordinator.history(100))
      .filter((r) => r.outcome === 'completed')
      .map((r) => r.roundId)
      .sort((a, b) => a - b);
  // A backstop only: no phase ends on this (test-support/run-settings.ts).
  const deadline = Date.now() + 150_000;
  while ((await completed()).length < ROUNDS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const rounds = await completed();
  expect(rounds.length).toBeGreaterThanOrEqual(ROUNDS);

  for (const handle of handles) expect(handle.getSnapshot().lastError?.code ?? null).not.toBe('trainRound');
  const globals: Float32Array[] = [];
  for (const roundId of rounds) {
    const stored = await models.get(roundId);
    expect(stored?.model.length).toBe(weightCount(reference));
    const global = Float32Array.from(stored?.model ?? []);
    expect(global.every(Number.isFinite)).toBe(true);
    globals.push(global);
  }

  // The latest global model, put into a fresh model, predicts the task better than the start.
  vectorToModel(reference, globals.at(-1) as Float32Array);
  const finalLoss = await lossOf(reference, test);
  expect(finalLoss).toBeLessThan(initialLoss / 2);

  // Participants that trained after the first global model started from a global model.
  const known = globals.map((g) => g.join(','));
  const startedFromGlobal = participants
    .flatMap((p) => p.inputs)
    .filter((input): input is Float32Array | Float64Array => input !== null);
  expect(startedFromGlobal.length).toBeGreaterThan(0);
  for (const input of startedFromGlobal) expect(known).toContain(Float32Array.from(input).join(','));
}, 180_000);
