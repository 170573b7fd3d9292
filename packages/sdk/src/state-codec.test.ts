import { initCrypto, type PetCrypto, toBase64Url } from '@petfl/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { FakeCoordinator } from '../test-support/fake-coordinator.ts';
import { ParticipantRestoreError } from './errors.ts';
import { encodeFramed } from './plain-data.ts';
import { deserializeState, serializeState, validateState } from './state-codec.ts';
import { createInitialState, type ParticipantState } from './state-machine/state.ts';
import { step } from './state-machine/step.ts';

let crypto: PetCrypto;
beforeAll(async () => {
  crypto = await initCrypto();
});

/** One state per phase kind, from a real run against the fake coordinator. */
async function statesOfEveryPhase(): Promise<ParticipantState[]> {
  const states: ParticipantState[] = [createInitialState(crypto, { scalar: 2.5 })];
  const coordinator = new FakeCoordinator(crypto);
  coordinator.startRound({ modelLength: 5 });
  let state = createInitialState(crypto);
  const io = { crypto, client: coordinator, localModel: () => [1, 2, 3, 4, 5] };
  for (let i = 0; i < 3; i++) {
    state = (await step(state, io)).state; // sum, sending, sum2
    states.push(structuredClone(state));
  }
  const update = new FakeCoordinator(crypto);
  update.startRound({ sumProbability: 1e-9, updateProbability: 1, modelLength: 5 });
  update.sums = new Map();
  let u = createInitialState(crypto);
  for (let i = 0; i < 3; i++) {
    u = (await step(u, { ...io, client: update })).state; // update, sending, awaiting
    states.push(structuredClone(u));
  }
  states.push({ ...u, lastError: { code: 'wrong-round', message: 'late', roundId: 1 } });
  return states;
}

describe('serializeState / deserializeState', () => {
  it('round-trips states of every phase exactly', async () => {
    const states = await statesOfEveryPhase();
    expect(new Set(states.map((s) => s.phase.kind))).toEqual(
      new Set(['new-round', 'sum', 'sending', 'sum2', 'update', 'awaiting']),
    );
    for (const state of states) expect(deserializeState(serializeState(state))).toStrictEqual(state);
  });

  it('starts with the magic "PFLS" and format 1', () => {
    const bytes = serializeState(createInitialState(crypto));
    expect(Array.from(bytes.subarray(0, 5))).toEqual([0x50, 0x46, 0x4c, 0x53, 1]);
  });

  it('truncated, corrupt, foreign or future-version bytes are a ParticipantRestoreError', () => {
    const bytes = serializeState(createInitialState(crypto));
    for (const n of [0, 4, 12, 13, 20, bytes.length - 1]) {
      expect(() => deserializeState(bytes.subarray(0, n))).toThrow(ParticipantRestoreError);
    }
    for (let i = 0; i < bytes.length; i += 7) {
      const corrupt = bytes.slice();
      corrupt[i] = (corrupt[i] as number) ^ 0x40;
      expect(() => deserializeState(corrupt)).toThrow(ParticipantRestoreError);
    }
    const foreign = Uint8Array.from('{"identity":"…"}', (c) => c.charCodeAt(0) & 0xff);
    expect(() => deserializeState(foreign)).toThrow('not a petfl participant state');
    const futureFormat = bytes.slice();
    futureFormat[4] = 9;
    expect(() => deserializeState(futureFormat)).toThrow('written by a newer SDK');
    const futureState = encodeFramed('PFLS', { ...createInitialState(crypto), v: 2, somethingNew: 1 });
    expect(() => deserializeState(futureState)).toThrow(
      'participant state.v: expected 1, got 2 (written by a newer SDK)',
    );
  });

  it('checks every field: a well-framed but wrong state is refused, never half-loaded', () => {
    const good = createInitialState(crypto);
    const other = createInitialState(crypto);
    const cases: [unknown, string][] = [
      [{ ...good, identity: { ...good.identity, publicKey: other.identity.publicKey } }, 'does not match'],
      [{ ...good, identity: { publicKey: good.identity.publicKey } }, 'identity.secretKey: expected a Uint8Array'],
      [{ ...good, scalar: -1 }, 'scalar: expected a finite number ≥ 0'],
      [{ ...good, phase: { kind: 'sum2' } }, "phase.kind: expected 'new-round' (no round is saved)"],
      [{ ...good, phase: { kind: 'flying' } }, 'phase.kind'],
      [{ ...good, lastError: { code: 1 } }, 'lastError.code: expected a string'],
      [{ ...good, round: { roundId: 1 } }, 'participant state.round:'],
      [{ ...good, v: '1' }, 'participant state.v: expected 1'],
      [[good], 'participant state: expected an object'],
    ];
    for (const [value, message] of cases) {
      expect(() => deserializeState(encodeFramed('PFLS', value))).toThrow(message);
      expect(() => validateState(value)).toThrow(ParticipantRestoreError);
    }
  });

  it('the restored state shares no buffers with its input', () => {
    const state = createInitialState(crypto);
    const copy = validateState(state);
    expect(copy).toStrictEqual(state);
    expect(copy.identity.secretKey).not.toBe(state.identity.secretKey);
    expect(toBase64Url(copy.identity.publicKey)).toBe(toBase64Url(state.identity.publicKey));
  });
});
