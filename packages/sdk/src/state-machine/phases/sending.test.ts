/**
 * Sending a multipart message (protocol.md §3.7): one chunk per step, each accepted chunk saved
 * as progress, so a transient failure at chunk k or a restart from a saved state re-sends only
 * the chunks from k on, and the coordinator's ChunkAssembler still reassembles the one message.
 */

import { initCrypto, type PetCrypto } from '@petfl/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { FakeCoordinator } from '../../../test-support/fake-coordinator.ts';
import { CoordinatorRejectedError, CoordinatorUnavailableError } from '../../client/coordinator-client.ts';
import type { StepIo } from '../io.ts';
import { createInitialState, type ParticipantState, type SendingPhase } from '../state.ts';
import { step } from '../step.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

const MODEL = Array.from({ length: 40 }, (_, i) => (i % 7) / 10 - 0.3);

/** An update participant (with one sum participant in the sum dictionary) about to send its chunks. */
async function updateBeforeSending(): Promise<{ coordinator: FakeCoordinator; io: StepIo; state: ParticipantState }> {
  const coordinator = new FakeCoordinator(crypto);
  coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1, modelLength: MODEL.length });
  coordinator.sums = new Map([['A'.repeat(43), crypto.encryptKeyPair().publicKey]]);
  const io: StepIo = { crypto, client: coordinator, localModel: () => MODEL, maxChunkData: 64 };
  let state = createInitialState(crypto);
  state = (await step(state, io)).state; // new-round → update
  state = (await step(state, io)).state; // update → sending
  return { coordinator, io, state };
}

const sendingOf = (state: ParticipantState): SendingPhase => {
  expect(state.phase.kind).toBe('sending');
  return state.phase as SendingPhase;
};

const chunkIndices = (coordinator: FakeCoordinator): (number | undefined)[] =>
  coordinator.posts.map((p) => p.chunkIndex);

describe('sending (protocol.md §3.7)', () => {
  it('splits a large payload into chunks and posts one per step', async () => {
    const { coordinator, io, state: start } = await updateBeforeSending();
    const { messages, tag, after } = sendingOf(start);
    // 128 + (12 + 41·6) + (4 + 112) = 502 payload bytes in chunks of 64 data bytes
    expect(messages).toHaveLength(8);
    expect(tag).toBe('update');
    expect(after).toStrictEqual({ kind: 'awaiting' });

    let state = start;
    for (let k = 1; k <= 8; k++) {
      const result = await step(state, io);
      expect(result.kind).toBe('complete');
      state = result.state;
      if (k < 8) expect(sendingOf(state).next).toBe(k);
    }
    expect(state.phase).toStrictEqual({ kind: 'awaiting' });
    expect(chunkIndices(coordinator)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(coordinator.payloads('update')[0]?.update.maskedModel.length).toBe(MODEL.length);
  });

  it('a failure at chunk k: pending, then only chunks ≥ k are sent again', async () => {
    const { coordinator, io, state: start } = await updateBeforeSending();
    coordinator.failPost = (post) =>
      post === 3 ? new CoordinatorUnavailableError('POST /message: answered 503') : undefined;
    let state = start;
    const kinds: string[] = [];
    for (let i = 0; i < 9; i++) {
      const result = await step(state, io);
      kinds.push(result.kind);
      state = result.state;
    }
    expect(kinds).toEqual(['complete', 'complete', 'complete', 'pending', ...Array(5).fill('complete')]);
    expect(coordinator.calls.post).toBe(9);
    expect(chunkIndices(coordinator)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(coordinator.payloads('update')).toHaveLength(1);
    expect(state.phase).toStrictEqual({ kind: 'awaiting' });
    expect(state.lastError).toBeUndefined();
  });

  it('a restart from a state saved mid-sending resumes with the next chunk', async () => {
    const { coordinator, io, state: start } = await updateBeforeSending();
    let state = start;
    for (let i = 0; i < 3; i++) state = (await step(state, io)).state;
    const saved = structuredClone(state); // the run loop saved it; the process dies here

    const restartedIo: StepIo = { crypto, client: coordinator, localModel: () => undefined };
    let restored = saved;
    expect(sendingOf(restored).next).toBe(3);
    while (restored.phase.kind === 'sending') restored = (await step(restored, restartedIo)).state;

    expect(chunkIndices(coordinator)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const [received] = coordinator.payloads('update');
    expect(received?.update.localSeedDict.size).toBe(1);
    expect(restored.phase).toStrictEqual({ kind: 'awaiting' });
  });

  it('a refused chunk abandons the round with the coordinator’s code', async () => {
    const { coordinator, io, state: start } = await updateBeforeSending();
    coordinator.failPost = (post) =>
      post === 2 ? new CoordinatorRejectedError(413, 'body-too-large', 'POST /message: body too large') : undefined;
    let state = start;
    for (let i = 0; i < 3; i++) state = (await step(state, io)).state;
    expect(state.phase).toStrictEqual({ kind: 'awaiting' });
    expect(state.lastError).toStrictEqual({
      code: 'body-too-large',
      message: 'POST /message: body too large',
      roundId: 1,
    });
    expect((await step(state, io)).kind).toBe('pending');
    expect(coordinator.calls.post).toBe(3);
  });

  it('each chunk is a separately sealed message of at most 136 + 8 + maxChunkData + 48 bytes', async () => {
    const { state } = await updateBeforeSending();
    const { messages } = sendingOf(state);
    for (const m of messages.slice(0, -1)) expect(m).toHaveLength(136 + 8 + 64 + 48);
    expect((messages.at(-1) as Uint8Array).length).toBeLessThanOrEqual(136 + 8 + 64 + 48);
  });
});
