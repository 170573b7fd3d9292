/**
 * The Redis store's JSON records — the round record, the round summaries of the history and the
 * meta — each described once as a Valibot schema of what is stored: versioned
 * plain data `{v: 1, …}` whose byte fields are base64url (§8). The stored types are inferred from
 * the schemas, and so are the decoded ones, which must fit the port's types (coordinator-store.ts).
 *
 * Reading back validates every field: a corrupt value is a `StoreError` naming its key and
 * listing each bad field's path, what was expected and what came, never a half-loaded record.
 * Every value about to be written is run through the same decoder first, so a record that would
 * not read back is never written.
 *
 * A message of a schema here is the rest of a problem's line after its path: `expected …, got …`,
 * or a sub-path and a detail where @petfl/core's own validator names it (`.group: expected …`).
 */

import {
  ENCRYPT_PUBLIC_KEY_BYTES,
  fromBase64Url,
  type MaskConfig,
  maskParams,
  type RoundPrivacy,
  roundPrivacyProblems,
  SEED_BYTES,
  toBase64Url,
  validateMaskConfig,
  validateRoundPrivacy,
} from '@petfl/core';
import * as v from 'valibot';
import {
  BANNED_LIMIT,
  type CoordinatorMeta,
  type LivePhase,
  type RoundRecord,
  type RoundSummary,
} from '../coordinator-store.ts';
import { StoreError } from '../store-error.ts';

/** A reason a JSON record is invalid; turned into a StoreError naming the key. */
class Invalid extends Error {}

export function show(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) return typeof value;
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// ---------------------------------------------------------------------------
// Messages

type Issue = v.BaseIssue<unknown>;

/** The message of a check: what it expected, and what came. */
const expected =
  (what: string) =>
  (issue: Issue): string =>
    `expected ${what}, got ${show(issue.input)}`;

/**
 * A core validator's error as a detail relative to the value it checked: core names the value by
 * the `field` it is given, here '', so its message reads `: expected …` or `.group: expected …`.
 */
function relative(error: unknown): string {
  const message = messageOf(error);
  return message.startsWith(': ') ? message.slice(2) : message;
}

/** At most this many problems are listed in one error; the rest are counted. */
const LISTED = 10;

/** One line per problem: `round record.pet.sum.count.min: expected a non-negative integer, got -1`. */
function problems(what: string, issues: readonly Issue[]): string {
  const lines = issues.slice(0, LISTED).map((issue) => problem(what, issue));
  if (issues.length > LISTED) lines.push(`and ${issues.length - LISTED} more`);
  return lines.join('; ');
}

function problem(what: string, issue: Issue): string {
  let where = what;
  for (const item of issue.path ?? []) {
    // A key that failed its own schema (a phase name in phaseDurationsMs) is shown by the message
    // as what came, so the path stops at its object. A missing field is named in the path.
    if (item.origin === 'key' && issue.type !== 'object') continue;
    where += typeof item.key === 'number' ? `[${item.key}]` : `.${String(item.key)}`;
  }
  const detail = issue.message;
  return detail.startsWith('.') || detail.startsWith('[') ? `${where}${detail}` : `${where}: ${detail}`;
}

// ---------------------------------------------------------------------------
// Building blocks

const isJsonObject = (value: unknown): boolean => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Valibot's object and record schemas take arrays too; a stored object is a JSON object. */
function jsonObject<const S extends v.GenericSchema>(schema: S) {
  return v.pipe(v.custom<v.InferInput<S>>(isJsonObject, expected('an object')), schema);
}

/**
 * An object with these fields (unknown ones are dropped), arrays included: `object` below refuses
 * those. A missing field is reported as its own schema reports `undefined`, so `{}` says what each
 * field expected.
 */
function fields<const E extends v.ObjectEntries>(entries: E) {
  return v.object(entries, (issue) => {
    // At the moment the message is made, the path holds only this object's item.
    const item = issue.path?.[0];
    if (item?.origin === 'key' && typeof item.key === 'string') {
      const field = (entries as v.ObjectEntries)[item.key];
      const missing = field === undefined ? undefined : v.safeParse(field, undefined).issues?.[0]?.message;
      return missing ?? 'missing';
    }
    return expected('an object')(issue);
  });
}

/** A JSON object with these fields (unknown ones are dropped). */
const object = <const E extends v.ObjectEntries>(entries: E) => jsonObject(fields(entries));

/**
 * A versioned record: its `v` picks the schema, so a later version is one more
 * option here, and a version this coordinator does not know is refused as such, not field by field.
 */
function versioned<const O extends v.VariantOptions<'v'>>(options: O) {
  return jsonObject(
    v.variant('v', options, (issue) => {
      const unknownVersion = typeof issue.input === 'number' ? ': a record version this coordinator does not read' : '';
      return `expected ${issue.expected}, got ${show(issue.input)}${unknownVersion}`;
    }),
  );
}

const FINITE = expected('a finite number');
const finite = v.pipe(v.number(FINITE), v.finite(FINITE));

const COUNT = expected('a non-negative integer');
const count = v.pipe(v.number(COUNT), v.safeInteger(COUNT), v.minValue(0, COUNT));

const text = v.string(expected('text'));

/** `length` bytes as base64url text (core's strict decoder: no padding, canonical trailing bits). */
function bytes(length: number) {
  return v.pipe(
    v.string(expected('base64url text')),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      try {
        return fromBase64Url(dataset.value, '');
      } catch (error) {
        addIssue({ message: relative(error) });
        return NEVER;
      }
    }),
    v.check(
      (value) => value.length === length,
      (issue) => `expected ${length} bytes, got ${issue.input.length}`,
    ),
  );
}

/** A crypto_box secret key (core's ENCRYPT_SECRET_KEY_BYTES, which its index does not export). */
const ROUND_SECRET_KEY_BYTES = 32;

/** Durations in ms of the named phases, each at most once. */
function durations<const P extends string>(phases: readonly P[]) {
  return jsonObject(v.record(v.picklist(phases, expected(`phases among ${phases.join(', ')}`)), finite));
}

/** Why a value is not a usable mask config, relative to its path; undefined when it is one. */
function maskConfigProblem(value: unknown): string | undefined {
  try {
    validateMaskConfig(value, '');
    maskParams(value); // the combination must exist too, not only each field
    return undefined;
  } catch (error) {
    return relative(error);
  }
}

/** A mask config, checked by @petfl/core's own validator; only its four fields are kept. */
const maskConfig = v.pipe(
  v.custom<MaskConfig>(
    (value) => maskConfigProblem(value) === undefined,
    (issue) => maskConfigProblem(issue.input) ?? 'expected a mask config',
  ),
  v.transform(({ group, data, bound, model }): MaskConfig => ({ group, data, bound, model })),
);

/** A round's privacy promise (docs/privacy.md), checked by @petfl/core's own validator. */
const roundPrivacy = v.pipe(
  v.custom<RoundPrivacy>(
    (value) => roundPrivacyProblems('privacy', value).length === 0,
    (issue) => roundPrivacyProblems('privacy', issue.input).join('; '),
  ),
  v.transform((value): RoundPrivacy => validateRoundPrivacy(value)),
);

const LIVE_PHASES: readonly LivePhase[] = ['sum', 'update', 'sum2'];
const SUMMARY_PHASES: readonly (LivePhase | 'unmask')[] = ['sum', 'update', 'sum2', 'unmask'];

/** settings.ts' PhaseSettings. */
const phase = {
  count: object({ min: count, max: count }),
  time: object({ minMs: count, maxMs: count }),
};

/** coordinator-store.ts' RoundPetSettings. */
const petSettings = object({
  sum: object({ ...phase, probability: finite }),
  update: object({ ...phase, probability: finite }),
  sum2: object(phase),
});

// ---------------------------------------------------------------------------
// The records

/** `{p}:r:<id>:round`: the round in progress. */
const roundRecordV1 = fields({
  v: v.literal(1),
  roundId: count,
  phase: v.picklist(LIVE_PHASES, expected(`one of ${LIVE_PHASES.join(', ')}`)),
  startedAt: finite,
  phaseStartedAt: finite,
  phaseDurationsMs: durations(LIVE_PHASES),
  roundPublicKey: bytes(ENCRYPT_PUBLIC_KEY_BYTES),
  // SECURITY: the round secret key, base64url in Redis: whoever can read the instance can read
  // it. Decoded here into the record the coordinator owns while the round runs; Redis' copy is
  // deleted by `endRound`/`startRound`.
  roundSecretKey: bytes(ROUND_SECRET_KEY_BYTES),
  seed: bytes(SEED_BYTES),
  pet: petSettings,
  maskConfig,
  modelLength: count,
  privacy: v.exactOptional(roundPrivacy),
});

/** An entry of `{p}:history`: one finished round. */
const roundSummaryV1 = fields({
  v: v.literal(1),
  roundId: count,
  outcome: v.picklist(['completed', 'failed'], expected('one of completed, failed')),
  failureReason: v.exactOptional(text),
  startedAt: finite,
  endedAt: finite,
  phaseDurationsMs: durations(SUMMARY_PHASES),
  participants: object({ sum: count, update: count, sum2: count }),
});

/** At most BANNED_LIMIT texts, oldest first. */
const bannedList = v.pipe(
  v.array(text, expected('a list of text')),
  v.maxLength(BANNED_LIMIT, (issue) => `expected at most ${BANNED_LIMIT} strings, got ${issue.input.length}`),
);

/** `{p}:meta`: the operator's state. */
const metaV1 = fields({
  v: v.literal(1),
  paused: v.boolean(expected('true or false')),
  nextPet: v.exactOptional(petSettings),
  banned: v.exactOptional(object({ participants: bannedList, subjects: bannedList })),
  restoreRun: v.exactOptional(count),
});

const roundRecordSchema = versioned([roundRecordV1]);
const roundSummarySchema = versioned([roundSummaryV1]);
const metaSchema = versioned([metaV1]);

/** A round record as stored in Redis (JSON; byte fields base64url). */
export type StoredRoundRecord = v.InferInput<typeof roundRecordSchema>;
/** A round summary as stored in Redis' history list (JSON). */
export type StoredRoundSummary = v.InferInput<typeof roundSummarySchema>;
/** The meta as stored in Redis (JSON). */
export type StoredMeta = v.InferInput<typeof metaSchema>;

// ---------------------------------------------------------------------------
// Decoding and encoding

/** Parses JSON text and checks it against `schema`, or says what is wrong with it. */
function decode<S extends v.GenericSchema>(what: string, schema: S, json: string): v.InferOutput<S> {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new Invalid(`${what}: not JSON (${messageOf(error)})`);
  }
  // abortPipeEarly: one problem per field (a number that is neither an integer nor ≥ 0 is one).
  const result = v.safeParse(schema, value, { abortPipeEarly: true });
  if (!result.success) throw new Invalid(problems(what, result.issues));
  return result.output;
}

export function decodeRoundRecord(json: string): RoundRecord {
  return decode('round record', roundRecordSchema, json);
}

/** The JSON of a round record; a record that would not read back is refused before it is written. */
export function encodeRoundRecord(op: string, round: RoundRecord): string {
  const stored: StoredRoundRecord = {
    v: 1,
    roundId: round.roundId,
    phase: round.phase,
    startedAt: round.startedAt,
    phaseStartedAt: round.phaseStartedAt,
    phaseDurationsMs: round.phaseDurationsMs,
    roundPublicKey: toBase64Url(round.roundPublicKey),
    // SECURITY: the round secret key is written to Redis in this JSON (base64url): whoever can
    // read the instance can read it. It is deleted with the round's keys by `endRound`.
    roundSecretKey: toBase64Url(round.roundSecretKey),
    seed: toBase64Url(round.seed),
    pet: round.pet,
    maskConfig: round.maskConfig,
    modelLength: round.modelLength,
    ...(round.privacy === undefined ? {} : { privacy: round.privacy }),
  };
  return checked(op, 'round record', JSON.stringify(stored), decodeRoundRecord);
}

export function decodeSummary(json: string): RoundSummary {
  const { v: _version, ...summary } = decode('round summary', roundSummarySchema, json);
  return summary;
}

export function encodeSummary(op: string, summary: RoundSummary): string {
  const stored: StoredRoundSummary = { v: 1, ...summary };
  return checked(op, 'round summary', JSON.stringify(stored), decodeSummary);
}

export function decodeMeta(json: string): CoordinatorMeta {
  return decode('meta', metaSchema, json);
}

export function encodeMeta(op: string, meta: CoordinatorMeta): string {
  const stored: StoredMeta = {
    v: 1,
    paused: meta.paused,
    ...(meta.nextPet === undefined ? {} : { nextPet: meta.nextPet }),
    ...(meta.banned === undefined
      ? {}
      : { banned: { participants: [...meta.banned.participants], subjects: [...meta.banned.subjects] } }),
    ...(meta.restoreRun === undefined ? {} : { restoreRun: meta.restoreRun }),
  };
  return checked(op, 'meta', JSON.stringify(stored), decodeMeta);
}

/** Runs the decoder over JSON about to be written: an invalid value is the caller's error. */
function checked(op: string, what: string, json: string, decoder: (json: string) => unknown): string {
  try {
    decoder(json);
  } catch (error) {
    if (error instanceof Invalid) throw new StoreError(`${op}: invalid ${what}: ${error.message}`, { cause: error });
    throw error;
  }
  return json;
}

/** Decodes a stored value; a value that does not decode is a corrupt store, named by its key. */
export function load<T>(key: string, text: string, decode: (text: string) => T): T {
  try {
    return decode(text);
  } catch (error) {
    if (error instanceof Invalid) {
      throw new StoreError(`redis ${key}: corrupt value: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/** A round id or count stored as decimal text. */
export function storedInteger(key: string, text: string): number {
  const value = /^\d{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value)) {
    throw new StoreError(`redis ${key}: corrupt value: expected a non-negative integer, got ${show(text)}`);
  }
  return value;
}
