/**
 * The React Native check's scenario (issue 4 §2): one fixed sequence of
 * protocol steps, run under Hermes and in Node; the two reports must be
 * equal. e2e/consumers/react-native.test.ts copies it (with main.ts,
 * polyfills.ts and test-support/fake-coordinator.ts) into the React Native
 * fixture, its imports of the SDK's sources pointed at `@petfl/sdk`, where
 * Metro bundles it with the packed packages for Hermes; the Node run imports
 * this file as it is.
 *
 * Everything it reports is deterministic: keys from fixed seeds, Ed25519
 * signatures, SHA-256, the mask keystream, masking with a fixed mask seed,
 * encodings, and the unmasked global model of a whole round run by the SDK
 * engine. What depends on randomness (sealed boxes, the ephemeral keys and
 * mask seeds the engine draws itself) is checked inside the engine that made
 * it — a sealed box must open with the right key — and only that outcome is
 * reported. Between every two steps the engine's state is saved and restored
 * through the React Native entry's AsyncStorage store, and round-tripped
 * through the state codec (`serializeState`/`deserializeState`).
 * Results are hex (digests for long ones), so a difference names its step.
 */

import {
  Aggregation,
  ChunkAssembler,
  decodeGlobalModel,
  deriveMask,
  doubleToRational,
  ENCRYPTED_MASK_SEED_BYTES,
  encodeGlobalModel,
  encodeMaskObject,
  encodeMessage,
  encodePayload,
  encodeSum,
  encodeSum2,
  encodeUpdate,
  initCrypto,
  isEligibleHash,
  type MaskConfig,
  Masker,
  openMessage,
  type Payload,
  type PetCrypto,
  sealMessage,
  sealMessageChunks,
  selectTask,
  signMessage,
  TAGS,
  toBase64Url,
  verifyTaskSignature,
} from '@petfl/core';
import * as sdk from '../src/react-native/index.ts';
import { FakeCoordinator } from '../test-support/fake-coordinator.ts';

/** Step name → result (hex, a digest, a count or a flag). */
export type ScenarioReport = Record<string, string | number | boolean>;

/** The configs masked: both arithmetic paths (float and limbs), every group and data type, bmax. */
const MASK_CONFIGS: readonly MaskConfig[] = [
  { group: 'prime', data: 'f32', bound: 'b0', model: 'm3' },
  { group: 'integer', data: 'f64', bound: 'bmax', model: 'm12' },
  { group: 'power2', data: 'i64', bound: 'b6', model: 'm6' },
  { group: 'prime', data: 'i32', bound: 'b2', model: 'm9' },
  { group: 'integer', data: 'i32', bound: 'bmax', model: 'm3' },
];

const ROUND_CONFIG: MaskConfig = { group: 'prime', data: 'f32', bound: 'b0', model: 'm3' };
const MODEL_LENGTH = 12;

/**
 * Runs the scenario. `timings`, when given, receives each part's milliseconds (kept out of the
 * report: they differ between engines).
 */
export async function runScenario(timings?: Record<string, number>): Promise<ScenarioReport> {
  const report: ScenarioReport = {};
  let last = Date.now();
  const lap = (part: string): void => {
    const now = Date.now();
    if (timings !== undefined) timings[part] = now - last;
    last = now;
  };
  const crypto = await initCrypto();
  lap('initCrypto');
  primitives(crypto, report);
  lap('primitives');
  eligibility(crypto, report);
  lap('eligibility');
  masking(crypto, report);
  lap('masking');
  messages(crypto, report);
  lap('messages');
  await round(crypto, report);
  lap('round');
  // Every export of the React Native entry, so the bundle loads every module behind it.
  report['exports'] = Object.keys(sdk).sort().join(',');
  return report;
}

/** Hashing, keys, signatures, the mask keystream and sealed boxes (protocol.md §5). */
function primitives(crypto: PetCrypto, report: ScenarioReport): void {
  const abc = crypto.hash(ascii('abc'));
  report['sha256.abc'] = hex(abc);
  report['sha256.abc.isVector'] = hex(abc) === 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
  report['sha256.100k'] = hex(crypto.hash(pattern(100_000, 1)));

  const identity = crypto.signingKeyPair(seed(1));
  report['identity.publicKey'] = hex(identity.publicKey);
  report['identity.secretKey.sha256'] = digest(crypto, identity.secretKey);
  const encrypt = crypto.encryptKeyPair(seed(2));
  report['encrypt.publicKey'] = hex(encrypt.publicKey);
  report['encrypt.secretKey.sha256'] = digest(crypto, encrypt.secretKey);
  const fresh = crypto.signingKeyPair();
  report['fresh.signing.lengths'] = `${fresh.publicKey.length}/${fresh.secretKey.length}`;

  const message = pattern(200, 2);
  const signature = crypto.sign(message, identity.secretKey);
  report['sign'] = hex(signature);
  report['verify.valid'] = crypto.verify(signature, message, identity.publicKey);
  const tampered = message.slice();
  tampered[7] = (tampered[7] as number) ^ 1;
  report['verify.tampered'] = crypto.verify(signature, tampered, identity.publicKey);
  report['verify.otherKey'] = crypto.verify(signature, message, fresh.publicKey);

  // The mask keystream equals libsodium's randombytes_buf_deterministic (protocol.md §5.2).
  const stream = crypto.keystream(seed(3));
  const first = stream.next(128);
  const rest = stream.next(1000);
  report['keystream.first128'] = hex(first);
  report['keystream.next1000.sha256'] = digest(crypto, rest);
  report['keystream.position'] = stream.position;
  stream.dispose();

  // Random: sealed with a fresh ephemeral key, so only "it opens, with this key only" is compared.
  const secret = pattern(32, 3);
  const sealed = crypto.seal(secret, encrypt.publicKey);
  report['seal.length'] = sealed.length;
  report['seal.opens'] = equal(crypto.openSealed(sealed, encrypt), secret);
  report['seal.otherKeyFails'] = throwsCode(() => crypto.openSealed(sealed, crypto.encryptKeyPair(seed(4))));
}

/** Task selection (protocol.md §2): signatures, their hashes against the probabilities, BigInt math. */
function eligibility(crypto: PetCrypto, report: ScenarioReport): void {
  const roundSeed = seed(10);
  let tasks = '';
  const signatures: Uint8Array[] = [];
  for (let i = 0; i < 24; i++) {
    const keys = crypto.signingKeyPair(seed(100 + i));
    const selection = selectTask(crypto, roundSeed, keys.secretKey, { sum: 0.25, update: 0.5 });
    tasks += selection.task[0];
    signatures.push(selection.sumSignature);
    if (selection.updateSignature !== undefined) {
      signatures.push(selection.updateSignature);
      report['eligibility.updateSignatureVerifies'] ??= verifyTaskSignature(
        crypto,
        roundSeed,
        'update',
        selection.updateSignature,
        keys.publicKey,
        0.5,
      );
    }
  }
  report['eligibility.tasks'] = tasks;
  report['eligibility.signatures.sha256'] = digest(crypto, concat(signatures));
  report['eligibility.rationals'] = [0.1, 0.25, 0.5, 1e-300, 0.999999]
    .map((p) => {
      const { numerator, shift } = doubleToRational(p);
      return `${numerator}/2^${shift}`;
    })
    .join(' ');
  report['eligibility.hashChecks'] = [0, 0.01, 0.5, 0.99, 1]
    .map((p) => (isEligibleHash(crypto.hash(seed(11)), p) ? '1' : '0'))
    .join('');
}

/** Masking with a fixed mask seed, the mask a seed derives, aggregation and unmasking (§4.4–4.5). */
function masking(crypto: PetCrypto, report: ScenarioReport): void {
  for (const config of MASK_CONFIGS) {
    const name = `mask.${config.group}-${config.data}-${config.bound}-${config.model}`;
    const model = testModel(16, 5);
    const maskSeed = seed(20);
    const { masked } = new Masker(crypto, config).mask(model, 0.5, maskSeed);
    report[`${name}.masked.sha256`] = digest(crypto, encodeMaskObject(masked));
    const mask = deriveMask(crypto, config, maskSeed, model.length);
    report[`${name}.mask.sha256`] = digest(crypto, encodeMaskObject(mask));
    const aggregation = new Aggregation(config, model.length);
    aggregation.aggregate(masked);
    const second = new Masker(crypto, config).mask(testModel(16, 9), 1.5, seed(21));
    aggregation.aggregate(second.masked);
    const total = new Aggregation(config, model.length);
    total.aggregate(mask);
    total.aggregate(deriveMask(crypto, config, seed(21), model.length));
    report[`${name}.unmasked`] = hex(floatBytes(aggregation.unmask(total.toMaskObject())));
  }
}

/** Payload and message encodings, signing (deterministic), sealing and opening, chunking (§3). */
function messages(crypto: PetCrypto, report: ScenarioReport): void {
  const identity = crypto.signingKeyPair(seed(30));
  const coordinator = crypto.encryptKeyPair(seed(31));
  const roundSeed = seed(32);
  const selection = selectTask(crypto, roundSeed, identity.secretKey, { sum: 1, update: 1 });
  const sumSignature = selection.sumSignature;
  const updateSignature = crypto.sign(concat([roundSeed, ascii('update')]), identity.secretKey);

  const sum: Payload = { kind: 'sum', sum: { sumSignature, ephemeralPk: crypto.encryptKeyPair(seed(33)).publicKey } };
  report['payload.sum'] = hex(encodeSum(sum.sum));

  const { masked } = new Masker(crypto, ROUND_CONFIG).mask(testModel(MODEL_LENGTH, 3), 1, seed(34));
  const localSeedDict = new Map<string, Uint8Array>();
  for (let i = 0; i < 3; i++) {
    const sumParticipantPk = toBase64Url(crypto.signingKeyPair(seed(40 + i)).publicKey);
    localSeedDict.set(sumParticipantPk, pattern(ENCRYPTED_MASK_SEED_BYTES, 40 + i));
  }
  const update: Payload = {
    kind: 'update',
    update: { sumSignature, updateSignature, maskedModel: masked, localSeedDict },
  };
  report['payload.update.sha256'] = digest(crypto, encodeUpdate(update.update));
  const aggregatedMask = deriveMask(crypto, ROUND_CONFIG, seed(35), MODEL_LENGTH);
  // Two update participants whose seeds did not open (protocol.md §3.5), given out of order: the
  // encoder sorts them.
  const rejectedSeeds = [37, 36].map((n) => crypto.signingKeyPair(seed(n)).publicKey);
  report['payload.sum2.sha256'] = digest(crypto, encodeSum2({ sumSignature, aggregatedMask, rejectedSeeds }));

  const message = { participantPk: identity.publicKey, coordinatorPk: coordinator.publicKey, payload: update };
  const signed = signMessage(crypto, encodeMessage(message), identity.secretKey);
  report['message.update.signed.sha256'] = digest(crypto, signed);

  const expect = { config: ROUND_CONFIG, modelLength: MODEL_LENGTH };
  const payloadBytes = encodePayload(update);
  const sealed = sealMessage(crypto, message, identity.secretKey);
  report['message.update.sealed.length'] = sealed.length;
  const opened = openMessage(crypto, sealed, coordinator, expect);
  report['message.update.opens'] =
    !opened.multipart &&
    equal(encodePayload(opened.payload), payloadBytes) &&
    equal(opened.signature, signed.slice(0, 64));

  const chunks = sealMessageChunks(crypto, message, identity.secretKey, { maxChunkData: 100, messageId: 0x1234 });
  report['message.update.chunks'] = chunks.length;
  const assembler = new ChunkAssembler({ maxBytesPerParticipant: 1 << 20, maxTotalBytes: 1 << 22 });
  let whole: Uint8Array | undefined;
  for (const chunk of chunks) {
    const part = openMessage(crypto, chunk, coordinator, expect);
    if (!part.multipart) throw new Error('a chunk opened as a whole message');
    whole = assembler.add(toBase64Url(part.participantPk), TAGS.update, part.chunk) ?? whole;
  }
  report['message.update.chunksReassemble'] = whole !== undefined && equal(whole, payloadBytes);

  const global = { roundId: 7, model: Float32Array.from(testModel(MODEL_LENGTH, 4)) };
  const globalBytes = encodeGlobalModel(global);
  report['globalModel.sha256'] = digest(crypto, globalBytes);
  report['globalModel.roundTrips'] = equal(encodeGlobalModel(decodeGlobalModel(globalBytes)), globalBytes);
}

interface Participant {
  readonly name: string;
  state: sdk.ParticipantState;
  readonly io: sdk.StepIo;
  readonly phases: string[];
}

/**
 * A whole round run by the SDK engine against the in-memory coordinator of the engine's tests
 * (it opens, checks and reassembles the messages for real): two sum and three update
 * participants, one of them sending its Update in chunks. After every step the state is saved to
 * an AsyncStorage-shaped memory store and the next step runs on what is read back. The
 * coordinator's part — adding the masked models and unmasking with the sum participants'
 * aggregated mask — ends in the global model, which is deterministic though every mask seed and
 * ephemeral key in between was random.
 */
async function round(crypto: PetCrypto, report: ScenarioReport): Promise<void> {
  const storage = new MemoryAsyncStorage();
  const store = sdk.asyncStorageStateStore(storage);
  const coordinator = new FakeCoordinator(crypto);
  const params = coordinator.startRound({
    sumProbability: 0.3,
    updateProbability: 0.6,
    seed: seed(50),
    maskConfig: ROUND_CONFIG,
    modelLength: MODEL_LENGTH,
  });
  // A round key from a seed, so that the saved states are deterministic too.
  const roundKeys = crypto.encryptKeyPair(seed(51));
  coordinator.roundKeys = roundKeys;
  coordinator.params = { ...params, coordinatorPk: roundKeys.publicKey };

  const wanted = { sum: 2, update: 3 };
  const participants: Participant[] = [];
  const models = new Map<string, number[]>();
  for (let i = 0; wanted.sum + wanted.update > 0; i++) {
    if (i > 200) throw new Error('round: no identities for two sum and three update participants');
    const identitySeed = seed(60 + i);
    const keys = crypto.signingKeyPair(identitySeed);
    const { task } = selectTask(crypto, seed(50), keys.secretKey, { sum: 0.3, update: 0.6 });
    if (task === 'none' || wanted[task] === 0) continue;
    wanted[task]--;
    const index = participants.filter((p) => p.name.startsWith(task)).length;
    const name = `${task}${index}`;
    const scalar = task === 'update' ? ([1, 2, 0.5][index] as number) : 1;
    const model = testModel(MODEL_LENGTH, 11 + i);
    models.set(name, model);
    const state = sdk.createInitialState(crypto, { identitySeed, scalar });
    participants.push({
      name,
      state,
      phases: [],
      io: {
        crypto,
        client: coordinator,
        localModel: () => models.get(name),
        // One update participant sends its Update in chunks (protocol.md §3.7).
        ...(name === 'update0' ? { maxChunkData: 200 } : {}),
      },
    });
  }

  let restores = 0;
  let restoreMismatches = 0;
  const settle = async (p: Participant): Promise<void> => {
    for (let i = 0; i < 100; i++) {
      const result = await sdk.step(p.state, p.io);
      if (result.kind === 'pending') return;
      // Saved to AsyncStorage and read back, as the run loop would on a restart; and through the
      // state codec (what `stop()` returns and `options.state` restores).
      const key = `petfl/${p.name}`;
      await store.set(key, result.state);
      const restored = (await store.get(key)) as sdk.ParticipantState;
      const bytes = sdk.serializeState(restored);
      restores++;
      if (!deepEqual(restored, result.state) || !deepEqual(sdk.deserializeState(bytes), result.state)) {
        restoreMismatches++;
      }
      p.state = restored;
      p.phases.push(restored.phase.kind);
      // The update phase holds only deterministic data (round parameters, task signatures).
      if (restored.phase.kind === 'update') {
        report[`round.${p.name}.updateState.serialized.sha256`] = digest(crypto, bytes);
        report[`round.${p.name}.updateState.saved.sha256`] = hexDigest(crypto, (await storage.getItem(key)) ?? '');
      }
    }
    throw new Error(`round: ${p.name} never settled`);
  };

  const first = participants[0];
  if (first === undefined) throw new Error('round: no participants');
  report['round.initialState.serialized.sha256'] = digest(crypto, sdk.serializeState(first.state));
  for (const p of participants) await settle(p); // new round: Sum messages sent, updates wait
  coordinator.publishSums();
  for (const p of participants) await settle(p); // Update messages sent
  // A garbage encrypted mask seed from an update participant that sent no update, in every sum
  // participant's column: each skips it and names it in its Sum2's rejected seeds (§3.5).
  const garbagePk = toBase64Url(crypto.signingKeyPair(seed(52)).publicKey);
  for (const column of coordinator.publishSeeds().values())
    column.set(garbagePk, pattern(ENCRYPTED_MASK_SEED_BYTES, 52));
  for (const p of participants) await settle(p); // Sum2 messages sent

  for (const p of participants) report[`round.${p.name}.phases`] = p.phases.join('>');
  report['round.restores'] = restores;
  report['round.restoreMismatches'] = restoreMismatches;
  report['round.lastErrors'] = participants.map((p) => p.state.lastError?.code ?? '-').join(',');
  report['round.posts'] = coordinator.posts.map((post) => `${post.tag}${post.chunkIndex ?? ''}`).join(',');

  const sum2s = coordinator.payloads('sum2');
  const updates = coordinator.payloads('update');
  const [mask, ...others] = sum2s.map((p) => encodeMaskObject(p.sum2.aggregatedMask));
  report['round.aggregatedMasksAgree'] = mask !== undefined && others.every((other) => equal(other, mask));
  const rejected = sum2s.map((p) => p.sum2.rejectedSeeds.map((pk) => toBase64Url(pk)).join('+') || '-');
  if (rejected.length !== 2 || rejected.some((r) => r !== garbagePk)) {
    throw new Error(`round: expected both Sum2 messages to reject exactly the garbage seed, got ${rejected.join(',')}`);
  }
  report['round.rejectedSeeds'] = rejected.join(',');
  const aggregation = new Aggregation(ROUND_CONFIG, MODEL_LENGTH);
  for (const { update } of updates) aggregation.aggregate(update.maskedModel);
  const aggregatedMask = sum2s[0]?.sum2.aggregatedMask;
  if (aggregatedMask === undefined) throw new Error('round: no Sum2 message arrived');
  const global = aggregation.unmask(aggregatedMask);
  report['round.globalModel'] = hex(floatBytes(global));
  report['round.globalModel.values'] = Array.from(global, (v) => v.toFixed(3)).join(' ');
}

/** The scenario's AsyncStorage: strings in a Map. */
class MemoryAsyncStorage implements sdk.AsyncStorageLike {
  private readonly items = new Map<string, string>();
  async getItem(key: string): Promise<string | null> {
    return this.items.get(key) ?? null;
  }
  async setItem(key: string, value: string): Promise<void> {
    this.items.set(key, value);
  }
  async removeItem(key: string): Promise<void> {
    this.items.delete(key);
  }
}

/** 32 bytes that differ for every `n`. */
function seed(n: number): Uint8Array {
  return pattern(32, n);
}

function pattern(length: number, n: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (n * 131 + i * 7 + ((i * i) >> 3)) & 0xff;
  return out;
}

/** Weights from integer arithmetic only, so both engines compute the same doubles (some beyond ±1, clamped by b0). */
function testModel(length: number, n: number): number[] {
  return Array.from({ length }, (_, i) => (((i + 1) * (n * 37 + 11)) % 101) / 40 - 1.25);
}

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function floatBytes(values: Float64Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

function hex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

function digest(crypto: PetCrypto, bytes: Uint8Array): string {
  return hex(crypto.hash(bytes));
}

/** SHA-256 of a string's UTF-16 code units, little-endian (no TextEncoder needed). */
function hexDigest(crypto: PetCrypto, text: string): string {
  const bytes = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    bytes[2 * i] = unit & 0xff;
    bytes[2 * i + 1] = unit >> 8;
  }
  return digest(crypto, bytes);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function throwsCode(fn: () => unknown): string {
  try {
    fn();
    return 'no error';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

/** Structural equality of plain data: what a save and restore must preserve. */
function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && equal(a, b);
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every(
    (k) => Object.hasOwn(b, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  );
}
