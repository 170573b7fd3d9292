/**
 * The Redis store's JSON records without Redis: each record type round-trips, every corruption is
 * refused with the key, the field's path, what was expected and what came, and a record of a
 * version this coordinator does not know is refused as such.
 */

import { toBase64Url } from '@petfl/core';
import { describe, expect, it } from 'vitest';
import {
  BANNED_LIMIT,
  type CoordinatorMeta,
  DEFAULT_META,
  type RoundPetSettings,
  type RoundRecord,
  type RoundSummary,
} from '../coordinator-store.ts';
import { StoreError } from '../store-error.ts';
import {
  decodeMeta,
  decodeRoundRecord,
  decodeSummary,
  encodeMeta,
  encodeRoundRecord,
  encodeSummary,
  load,
  type StoredMeta,
  type StoredRoundRecord,
  type StoredRoundSummary,
  storedInteger,
} from './records.ts';

const PET: RoundPetSettings = {
  sum: { probability: 0.5, count: { min: 1, max: 10 }, time: { minMs: 0, maxMs: 60_000 } },
  update: { probability: 0.9, count: { min: 3, max: 100 }, time: { minMs: 1_000, maxMs: 120_000 } },
  sum2: { count: { min: 1, max: 10 }, time: { minMs: 0, maxMs: 30_000 } },
};

const ROUND: RoundRecord = {
  v: 1,
  roundId: 5,
  phase: 'update',
  startedAt: 1_767_225_600_000,
  phaseStartedAt: 1_767_225_601_000,
  phaseDurationsMs: { sum: 1_000 },
  roundPublicKey: new Uint8Array(32).fill(1),
  roundSecretKey: new Uint8Array(32).fill(2),
  seed: Uint8Array.from({ length: 32 }, (_, i) => i),
  pet: PET,
  maskConfig: { group: 'prime', data: 'f32', bound: 'b0', model: 'm3' },
  modelLength: 16,
};

const SUMMARY: RoundSummary = {
  roundId: 4,
  outcome: 'failed',
  failureReason: 'update phase timed out: 2 of 3 updates after 60000 ms',
  startedAt: 1_000,
  endedAt: 61_000,
  phaseDurationsMs: { sum: 100, update: 60_000 },
  participants: { sum: 3, update: 2, sum2: 0 },
};

const META: CoordinatorMeta = {
  v: 1,
  paused: true,
  nextPet: PET,
  banned: { participants: ['pk-a', 'pk-b'], subjects: ['subject-a'] },
};

const KEY = '{petfl}:r:5:round';

/** The stored JSON of the valid round record, to corrupt. */
const storedRound = (): StoredRoundRecord => JSON.parse(encodeRoundRecord('test', ROUND)) as StoredRoundRecord;

/** What `load` throws for a stored value, as text (fails the test when it loads). */
function refusal<T>(key: string, stored: unknown, decode: (text: string) => T): string {
  const text = typeof stored === 'string' ? stored : JSON.stringify(stored);
  try {
    load(key, text, decode);
  } catch (error) {
    expect(error).toBeInstanceOf(StoreError);
    return (error as Error).message;
  }
  throw new Error(`loaded ${text}`);
}

describe('round trips', () => {
  it('a round record: its JSON is versioned plain data with base64url bytes, and reads back equal', () => {
    const json = encodeRoundRecord('startRound', ROUND);
    const stored = JSON.parse(json) as StoredRoundRecord;
    expect(stored).toEqual({
      ...ROUND,
      roundPublicKey: toBase64Url(ROUND.roundPublicKey),
      roundSecretKey: toBase64Url(ROUND.roundSecretKey),
      seed: toBase64Url(ROUND.seed),
    });
    const read = decodeRoundRecord(json);
    expect(read).toEqual(ROUND);
    expect(read.seed).toBeInstanceOf(Uint8Array);
  });

  it('a round record with its privacy promise reads back equal; a corrupt promise is named', () => {
    const privacy = {
      mechanism: 'skellam',
      clipNorm: 0.5,
      dimension: 10,
      scale: 1000,
      shift: 10,
      participants: 3,
      noise: 12.5,
      clipBitWeight: 0.5,
    } as const;
    const withPrivacy = { ...ROUND, privacy };
    expect(decodeRoundRecord(encodeRoundRecord('startRound', withPrivacy))).toEqual(withPrivacy);
    const corrupt = JSON.stringify({ ...storedRound(), privacy: { ...privacy, noise: -1 } });
    expect(() => decodeRoundRecord(corrupt)).toThrow(/privacy\.noise: expected a number/);
  });

  it('a round summary, with and without a failure reason; the version stays in the JSON', () => {
    const { failureReason: _, ...completed } = { ...SUMMARY, outcome: 'completed' as const };
    for (const summary of [SUMMARY, completed]) {
      const json = encodeSummary('endRound', summary);
      expect(JSON.parse(json)).toEqual({ v: 1, ...summary } satisfies StoredRoundSummary);
      expect(decodeSummary(json)).toEqual(summary);
    }
    expect('failureReason' in decodeSummary(encodeSummary('endRound', completed))).toBe(false);
  });

  it('the meta, bare and with next-round settings and banned lists', () => {
    for (const meta of [DEFAULT_META, META]) {
      const json = encodeMeta('saveMeta', meta);
      expect(JSON.parse(json)).toEqual(meta);
      expect(decodeMeta(json)).toEqual(meta);
    }
    expect(Object.keys(decodeMeta(encodeMeta('saveMeta', DEFAULT_META)))).toEqual(['v', 'paused']);
  });

  it('drops fields it does not know, and keeps only the four fields of a mask config', () => {
    const stored = { ...storedRound(), note: 'x', maskConfig: { ...ROUND.maskConfig, extra: 1 } };
    expect(decodeRoundRecord(JSON.stringify(stored))).toEqual(ROUND);
  });
});

describe('corrupt records: refused with the key, the path, what was expected and what came', () => {
  const round = storedRound();
  const corrupt: [string, unknown, string][] = [
    ['text that is not JSON', '{"v":1, "roundId": 5,', 'round record: not JSON ('],
    ['an array', [1, 2, 3], 'round record: expected an object, got [1,2,3]'],
    ['null', null, 'round record: expected an object, got null'],
    ['a missing version', { ...round, v: undefined }, 'round record.v: expected 1, got undefined'],
    ['a negative round id', { ...round, roundId: -1 }, 'round record.roundId: expected a non-negative integer, got -1'],
    [
      'a fractional round id',
      { ...round, roundId: 1.5 },
      'round record.roundId: expected a non-negative integer, got 1.5',
    ],
    [
      'a phase that is not live',
      { ...round, phase: 'unmask' },
      'round record.phase: expected one of sum, update, sum2, got "unmask"',
    ],
    ['a time as text', { ...round, startedAt: '2026' }, 'round record.startedAt: expected a finite number, got "2026"'],
    [
      'a duration of an unknown phase',
      { ...round, phaseDurationsMs: { unmask: 3 } },
      'round record.phaseDurationsMs: expected phases among sum, update, sum2, got "unmask"',
    ],
    [
      'a duration that is not a number',
      { ...round, phaseDurationsMs: { sum: null } },
      'round record.phaseDurationsMs.sum: expected a finite number, got null',
    ],
    [
      'durations as an array',
      { ...round, phaseDurationsMs: [1] },
      'round record.phaseDurationsMs: expected an object, got [1]',
    ],
    [
      'a key that is not base64url',
      { ...round, roundSecretKey: 'not base64url!' },
      'round record.roundSecretKey: invalid base64url character at 3',
    ],
    [
      'a key as a number',
      { ...round, roundPublicKey: 7 },
      'round record.roundPublicKey: expected base64url text, got 7',
    ],
    ['a short seed', { ...round, seed: 'AAAA' }, 'round record.seed: expected 32 bytes, got 3'],
    [
      'a missing mask config',
      { ...round, maskConfig: undefined },
      'round record.maskConfig: expected an object, got undefined',
    ],
    [
      'an unknown mask group',
      { ...round, maskConfig: { ...ROUND.maskConfig, group: 'ring' } },
      'round record.maskConfig.group: expected one of integer, prime, power2, got "ring"',
    ],
    [
      'null phase settings',
      { ...round, pet: { ...PET, sum2: null } },
      'round record.pet.sum2: expected an object, got null',
    ],
    [
      'a negative count deep in the settings',
      { ...round, pet: { ...PET, update: { ...PET.update, count: { min: -1, max: 100 } } } },
      'round record.pet.update.count.min: expected a non-negative integer, got -1',
    ],
    [
      'a probability as text',
      { ...round, pet: { ...PET, sum: { ...PET.sum, probability: '0.5' } } },
      'round record.pet.sum.probability: expected a finite number, got "0.5"',
    ],
    [
      'a missing model length',
      { ...round, modelLength: undefined },
      'round record.modelLength: expected a non-negative integer, got undefined',
    ],
  ];

  it.each(corrupt)('%s', (_, stored, reason) => {
    expect(refusal(KEY, stored, decodeRoundRecord)).toContain(`redis ${KEY}: corrupt value: ${reason}`);
  });

  it('lists every problem of a record, each with its path', () => {
    const message = refusal(KEY, { ...round, roundId: 'five', phase: 'done', seed: 12 }, decodeRoundRecord);
    expect(message).toBe(
      `redis ${KEY}: corrupt value: ` +
        'round record.roundId: expected a non-negative integer, got "five"; ' +
        'round record.phase: expected one of sum, update, sum2, got "done"; ' +
        'round record.seed: expected base64url text, got 12',
    );
  });

  it('lists at most ten problems and counts the rest', () => {
    const message = refusal(KEY, { v: 1 }, decodeRoundRecord);
    expect(message.split('; ')).toHaveLength(11);
    expect(message).toContain('round record.roundId: expected a non-negative integer, got undefined');
    expect(message).toMatch(/; and 1 more$/);
  });

  it('refuses a record of a version it does not know as such, not field by field', () => {
    const future = { v: 2, roundId: 5, keys: { public: 'AQ' } };
    expect(refusal(KEY, future, decodeRoundRecord)).toBe(
      `redis ${KEY}: corrupt value: round record.v: expected 1, got 2: a record version this coordinator does not read`,
    );
    expect(refusal('{petfl}:meta', { ...META, v: 3 }, decodeMeta)).toMatch(
      /meta\.v: expected 1, got 3: a record version/,
    );
    expect(refusal('{petfl}:history[0]', { v: 2, ...SUMMARY }, decodeSummary)).toMatch(
      /round summary\.v: expected 1, got 2: a record version/,
    );
  });

  it('refuses corrupt summaries', () => {
    const stored = JSON.parse(encodeSummary('endRound', SUMMARY)) as StoredRoundSummary;
    const cases: [unknown, string][] = [
      [{ ...stored, outcome: 'aborted' }, 'round summary.outcome: expected one of completed, failed, got "aborted"'],
      [{ ...stored, failureReason: 3 }, 'round summary.failureReason: expected text, got 3'],
      [{ ...stored, endedAt: null }, 'round summary.endedAt: expected a finite number, got null'],
      [
        { ...stored, phaseDurationsMs: { idle: 1 } },
        'round summary.phaseDurationsMs: expected phases among sum, update, sum2, unmask, got "idle"',
      ],
      [
        { ...stored, participants: { ...stored.participants, sum2: -2 } },
        'round summary.participants.sum2: expected a non-negative integer, got -2',
      ],
    ];
    for (const [value, reason] of cases) {
      expect(refusal('{petfl}:history[3]', value, decodeSummary)).toBe(
        `redis {petfl}:history[3]: corrupt value: ${reason}`,
      );
    }
  });

  it('refuses a corrupt meta, banned lists bounded by BANNED_LIMIT', () => {
    const stored = JSON.parse(encodeMeta('saveMeta', META)) as StoredMeta;
    const tooMany = Array.from({ length: BANNED_LIMIT + 1 }, (_, i) => `pk-${i}`);
    const cases: [unknown, string][] = [
      [{ ...stored, paused: 'yes' }, 'meta.paused: expected true or false, got "yes"'],
      [
        { ...stored, banned: { participants: ['a', 7], subjects: [] } },
        'meta.banned.participants[1]: expected text, got 7',
      ],
      [
        { ...stored, banned: { participants: [], subjects: 'x' } },
        'meta.banned.subjects: expected a list of text, got "x"',
      ],
      [
        { ...stored, banned: { participants: tooMany, subjects: [] } },
        `meta.banned.participants: expected at most ${BANNED_LIMIT} strings, got ${BANNED_LIMIT + 1}`,
      ],
      [
        { ...stored, nextPet: { ...PET, sum2: { count: { min: 1, max: 2 } } } },
        'meta.nextPet.sum2.time: expected an object, got undefined',
      ],
    ];
    for (const [value, reason] of cases) {
      expect(refusal('{petfl}:meta', value, decodeMeta)).toBe(`redis {petfl}:meta: corrupt value: ${reason}`);
    }
  });

  it('a stored integer must be decimal digits', () => {
    expect(storedInteger('{petfl}:current', '42')).toBe(42);
    for (const text of ['', '-1', '1.5', '12abc', '1e3', '9'.repeat(16)]) {
      expect(() => storedInteger('{petfl}:current', text)).toThrow(
        /^redis \{petfl\}:current: corrupt value: expected a non-negative integer, got /,
      );
    }
  });
});

describe('writing', () => {
  it('refuses a record that would not read back, naming the operation and the field', () => {
    expect(() => encodeRoundRecord('saveRound', { ...ROUND, startedAt: Number.NaN })).toThrow(
      new StoreError('saveRound: invalid round record: round record.startedAt: expected a finite number, got null'),
    );
    expect(() => encodeRoundRecord('startRound', { ...ROUND, roundSecretKey: new Uint8Array(31) })).toThrow(
      /^startRound: invalid round record: round record\.roundSecretKey: expected 32 bytes, got 31$/,
    );
    expect(() => encodeSummary('endRound', { ...SUMMARY, roundId: -4 })).toThrow(
      /^endRound: invalid round summary: round summary\.roundId: expected a non-negative integer, got -4$/,
    );
    const banned = { participants: Array.from({ length: BANNED_LIMIT + 1 }, String), subjects: [] };
    expect(() => encodeMeta('saveMeta', { ...META, banned })).toThrow(
      /^saveMeta: invalid meta: meta\.banned\.participants: /,
    );
  });
});
