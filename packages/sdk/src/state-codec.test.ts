import { addAccountantEvent, createAccountantState, initCrypto, type PetCrypto, toBase64Url } from '@petfl/core';
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

  it('round-trips the privacy ledger and names what is wrong with a corrupt one', () => {
    const ledger = {
      accountant: addAccountantEvent(createAccountantState(), { kind: 'gaussian', noiseMultiplier: 1.1 }, 3),
      rounds: [toBase64Url(new Uint8Array(32).fill(1)), toBase64Url(new Uint8Array(32).fill(2))],
    };
    const state = { ...createInitialState(crypto), privacyLedger: ledger };
    expect(deserializeState(serializeState(state))).toStrictEqual(state);
    const restoreOf = (privacyLedger: unknown) => () =>
      deserializeState(serializeState({ ...state, privacyLedger } as ParticipantState));
    expect(restoreOf({ ...ledger, rounds: [7] })).toThrow(
      /privacyLedger\.rounds: expected a list of at most 1000 round seeds/,
    );
    expect(restoreOf({ ...ledger, accountant: { ...ledger.accountant, events: 'x' } })).toThrow(
      /privacyLedger\.accountant: /,
    );
    expect(restoreOf('ledger')).toThrow(ParticipantRestoreError);
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
    const futureState = encodeFramed('PFLS', { ...createInitialState(crypto), v: 3, somethingNew: 1 });
    expect(() => deserializeState(futureState)).toThrow(
      'participant state.v: expected 2, got 3 (written by a newer SDK)',
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
      [{ ...good, v: '2' }, 'participant state.v: expected 2 (or 1, migrated)'],
      [{ ...good, v: 0 }, 'participant state.v: expected 2 (or 1, migrated)'],
      [[good], 'participant state: expected an object'],
    ];
    for (const [value, message] of cases) {
      expect(() => deserializeState(encodeFramed('PFLS', value))).toThrow(message);
      expect(() => validateState(value)).toThrow(ParticipantRestoreError);
    }
  });

  it('checks a sending phase: its payload, message id, chunk size and progress', async () => {
    const states = await statesOfEveryPhase();
    const sending = states.find((s) => s.phase.kind === 'sending') as ParticipantState;
    const phase = sending.phase;
    const cases: [unknown, string][] = [
      [{ ...phase, payload: [1, 2] }, 'phase.payload: expected an object'],
      [{ ...phase, messageId: 70_000 }, 'phase.messageId: expected undefined or an integer in 0..65535'],
      [{ ...phase, maxChunkData: 0 }, 'phase.maxChunkData: expected a positive integer'],
      [{ ...phase, next: 2 }, 'phase.next: expected an integer in 0..1'],
      [{ ...phase, tag: 'sum3' }, 'phase.tag: expected sum, update or sum2'],
      [{ ...phase, after: { kind: 'update' } }, 'phase.after'],
      // a stored record's reference, with no store to resolve it (state-saver.ts)
      [{ ...phase, payload: { length: 96, sha256: new Uint8Array(32) } }, 'phase.payload: expected a Uint8Array'],
    ];
    for (const [value, message] of cases) {
      expect(() => deserializeState(encodeFramed('PFLS', { ...sending, phase: value }))).toThrow(message);
    }
  });

  it('migrates a format 1 state: every field kept, a send in flight given up', async () => {
    const states = await statesOfEveryPhase();
    for (const state of states.filter((s) => s.phase.kind !== 'sending')) {
      expect(validateState({ ...state, v: 1 })).toStrictEqual(state);
    }
    const sending = states.find((s) => s.phase.kind === 'sending') as ParticipantState;
    const { after } = sending.phase as { after: unknown };
    const messages = [new Uint8Array(280)];
    const v1 = { ...sending, v: 1, phase: { kind: 'sending', tag: 'sum', messages, next: 0, after } };
    const migrated = deserializeState(encodeFramed('PFLS', v1));
    expect(migrated).toStrictEqual({
      ...sending,
      phase: { kind: 'awaiting' },
      lastError: {
        code: 'participant-restore',
        message:
          'participant state.phase: a send saved by an older SDK (state format 1) cannot be resumed; this round’s task was given up',
        roundId: 1,
      },
    });
    expect(() => validateState({ ...v1, phase: { ...v1.phase, messages: [] } })).toThrow(
      'phase.messages: expected a non-empty array',
    );
  });

  it('the restored state shares no buffers with its input', () => {
    const state = createInitialState(crypto);
    const copy = validateState(state);
    expect(copy).toStrictEqual(state);
    expect(copy.identity.secretKey).not.toBe(state.identity.secretKey);
    expect(toBase64Url(copy.identity.publicKey)).toBe(toBase64Url(state.identity.publicKey));
  });
});
