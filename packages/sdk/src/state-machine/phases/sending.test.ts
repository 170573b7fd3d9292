/**
 * Sending a multipart message (protocol.md §3.7): one chunk per step, each accepted chunk saved
 * as progress, so a transient failure at chunk k or a restart from a saved state re-sends only
 * the chunks from k on, and the coordinator's ChunkAssembler still reassembles the one message.
 * Chunks are sealed when posted, from the payload the phase holds: a chunk posted again is the
 * same chunk, byte for byte, once opened.
 */

import { initCrypto, type PetCrypto } from '@petfl/core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
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
    const { payload, messageId, maxChunkData, tag, after } = sendingOf(start);
    // the Update payload (protocol.md §3.4: signatures, masked model, local seed dictionary),
    // about 500 bytes, in 8 chunks of 64 data bytes
    expect(Math.ceil(payload.length / 64)).toBe(8);
    expect(maxChunkData).toBe(64);
    expect(messageId).toBeTypeOf('number');
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
    const { coordinator, io, state: start } = await updateBeforeSending();
    let state = start;
    while (state.phase.kind === 'sending') state = (await step(state, io)).state;
    const sizes = coordinator.posts.map((p) => p.sealedBytes);
    const length = sendingOf(start).payload.length;
    expect(sizes).toEqual([...Array(7).fill(136 + 8 + 64 + 48), 136 + 8 + (length - 7 * 64) + 48]);
  });

  it('a chunk whose 202 was lost is posted again from the saved state: the same bytes, accepted again', async () => {
    const { coordinator, io, state: start } = await updateBeforeSending();
    let state = start;
    for (let i = 0; i < 3; i++) state = (await step(state, io)).state;
    const saved = structuredClone(state); // saved with next = 3; chunk 3 is posted, its answer lost
    await step(state, io);
    let restored = saved;
    while (restored.phase.kind === 'sending') restored = (await step(restored, io)).state;

    expect(chunkIndices(coordinator)).toEqual([0, 1, 2, 3, 3, 4, 5, 6, 7]);
    const [first, again] = coordinator.posts.filter((p) => p.chunkIndex === 3);
    expect(again?.chunk).toStrictEqual(first?.chunk);
    expect(coordinator.payloads('update')).toHaveLength(1);
    expect(restored.phase).toStrictEqual({ kind: 'awaiting' });
    expect(restored.lastError).toBeUndefined();
  });

  it('seals the next chunk while one is in flight, and posts it without sealing it again', async () => {
    const { coordinator, io, state: start } = await updateBeforeSending();
    let seals = 0;
    const counting: PetCrypto = Object.create(io.crypto);
    counting.signAndSeal = (...args) => {
      seals++;
      return io.crypto.signAndSeal(...args);
    };
    // Each post is held until the test lets it go; the seals counted while it was held are kept.
    const sealsWhileInFlight: number[] = [];
    let release: (() => void) | undefined;
    const client = coordinator.with({
      async postMessage(sealed) {
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        sealsWhileInFlight.push(seals);
        return coordinator.postMessage(sealed);
      },
    });
    const held = { ...io, crypto: counting, client };
    let state = start;
    for (let k = 0; k < 8; k++) {
      const stepping = step(state, held);
      await vi.waitFor(() => expect(seals).toBe(Math.min(k + 2, 8))); // chunk k, and k + 1 sealed ahead
      release?.();
      state = (await stepping).state;
    }
    expect(state.phase).toStrictEqual({ kind: 'awaiting' });
    expect(sealsWhileInFlight).toEqual([2, 3, 4, 5, 6, 7, 8, 8]);
    expect(seals).toBe(8); // each chunk sealed once
    expect(chunkIndices(coordinator)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(coordinator.payloads('update')[0]?.update.maskedModel.length).toBe(MODEL.length);
  });

  it('a chunk sealed ahead is not posted from another state: a restored one seals its own', async () => {
    const { coordinator, io, state: start } = await updateBeforeSending();
    let state = (await step(start, io)).state; // chunk 0 posted, chunk 1 sealed ahead
    const restored = structuredClone(state);
    let seals = 0;
    const counting: PetCrypto = Object.create(io.crypto);
    counting.signAndSeal = (...args) => {
      seals++;
      return io.crypto.signAndSeal(...args);
    };
    state = (await step(restored, { ...io, crypto: counting })).state;
    expect(seals).toBe(2); // chunk 1 sealed again, chunk 2 ahead
    while (state.phase.kind === 'sending') state = (await step(state, io)).state;
    expect(chunkIndices(coordinator)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(coordinator.payloads('update')).toHaveLength(1);
  });

  it('a payload that fits maxChunkData goes as one message, without a message id', async () => {
    const { coordinator, io } = await updateBeforeSending();
    let state = createInitialState(crypto);
    const roomy = { ...io, maxChunkData: 1024 };
    coordinator.startRound({ sumProbability: 1e-9, updateProbability: 1, modelLength: MODEL.length });
    coordinator.sums = new Map([['A'.repeat(43), crypto.encryptKeyPair().publicKey]]);
    state = (await step(state, roomy)).state;
    state = (await step(state, roomy)).state;
    expect(sendingOf(state)).toMatchObject({ messageId: undefined, next: 0 });
    const length = sendingOf(state).payload.length;
    state = (await step(state, roomy)).state;
    expect(state.phase).toStrictEqual({ kind: 'awaiting' });
    expect(coordinator.posts.map((p) => [p.chunkIndex, p.sealedBytes])).toEqual([[undefined, 136 + length + 48]]);
  });
});
