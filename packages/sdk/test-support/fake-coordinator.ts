/**
 * A fake coordinator for the engine's tests: a `CoordinatorClient` held in
 * memory that does the coordinator's cryptographic part for real. It holds a
 * real round key pair, opens every posted message with `openMessage`,
 * reassembles chunks with a real `ChunkAssembler` and records the decoded
 * payloads; `publishSums` and `publishSeeds` end the sum and update phases by
 * building the sum dictionary and transposing the local seed dictionaries
 * into the seed dictionary (protocol.md §1.1, §3.8). Phase timing, eligibility
 * re-checks and aggregation are left to the tests.
 */

import {
  ChunkAssembler,
  decodeChunk,
  decodePayload,
  type EncryptKeyPair,
  type GlobalModel,
  isPetError,
  type MaskConfig,
  type MessageTag,
  openMessage,
  type Payload,
  type PetCrypto,
  type RoundParameters,
  TAGS,
  toBase64Url,
} from '@petfl/core';
import { type CoordinatorClient, CoordinatorRejectedError } from '../src/client/coordinator-client.ts';

export const TEST_MASK_CONFIG: MaskConfig = { group: 'prime', data: 'f32', bound: 'b0', model: 'm3' };

export interface FakeRoundOptions {
  readonly sumProbability?: number;
  readonly updateProbability?: number;
  readonly seed?: Uint8Array;
  readonly maskConfig?: MaskConfig;
  readonly modelLength?: number;
}

/** A message the fake accepted, reassembled if it came in chunks. */
export interface ReceivedMessage {
  readonly participantPk: Uint8Array;
  readonly payload: Payload;
}

/** One accepted post: a whole message, or one chunk (with its index and its opened chunk payload). */
export interface AcceptedPost {
  readonly participantPk: string;
  readonly tag: MessageTag;
  readonly chunkIndex: number | undefined;
  /** The chunk payload as opened (chunk header and data, protocol.md §3.7); undefined for a whole message. */
  readonly chunk: Uint8Array | undefined;
  /** The length of the sealed body posted. */
  readonly sealedBytes: number;
}

export class FakeCoordinator implements CoordinatorClient {
  /** The published round parameters; undefined answers like a 204. */
  params: RoundParameters | undefined;
  /** SECURITY (test only): the round key pair, which opens every posted message. */
  roundKeys: EncryptKeyPair | undefined;
  sums: Map<string, Uint8Array> | undefined;
  /** The seed dictionary: sum participant → update seed dictionary. */
  seeds: Map<string, Map<string, Uint8Array>> | undefined;
  model: GlobalModel | undefined;
  received: ReceivedMessage[] = [];
  posts: AcceptedPost[] = [];
  /** Asked before every post (numbered from 0 across rounds); an error it returns is thrown instead. */
  failPost: ((post: number) => Error | undefined) | undefined;
  readonly calls = { params: 0, sums: 0, seeds: 0, model: 0, post: 0 };
  private assembler = newAssembler();

  private readonly crypto: PetCrypto;

  constructor(crypto: PetCrypto) {
    this.crypto = crypto;
  }

  /** Starts the next round: a fresh round key, a fresh (or given) seed; nothing received yet. */
  startRound(options: FakeRoundOptions = {}): RoundParameters {
    this.roundKeys = this.crypto.encryptKeyPair();
    this.params = {
      roundId: (this.params?.roundId ?? 0) + 1,
      coordinatorPk: this.roundKeys.publicKey,
      sumProbability: options.sumProbability ?? 1,
      updateProbability: options.updateProbability ?? 1,
      seed: options.seed ?? this.crypto.randomBytes(32),
      maskConfig: options.maskConfig ?? TEST_MASK_CONFIG,
      modelLength: options.modelLength ?? 4,
    };
    this.sums = undefined;
    this.seeds = undefined;
    this.received = [];
    this.posts = [];
    this.assembler = newAssembler();
    return this.params;
  }

  /** Ends the sum phase: the sum dictionary of the Sum messages received. */
  publishSums(): Map<string, Uint8Array> {
    this.sums = new Map();
    for (const { participantPk, payload } of this.received) {
      if (payload.kind === 'sum') this.sums.set(toBase64Url(participantPk), payload.sum.ephemeralPk);
    }
    return this.sums;
  }

  /** Ends the update phase: the seed dictionary, the transpose of the local seed dictionaries. */
  publishSeeds(): Map<string, Map<string, Uint8Array>> {
    const seeds = new Map<string, Map<string, Uint8Array>>();
    for (const sumPk of this.sums?.keys() ?? []) seeds.set(sumPk, new Map());
    for (const { participantPk, payload } of this.received) {
      if (payload.kind !== 'update') continue;
      for (const [sumPk, encryptedSeed] of payload.update.localSeedDict) {
        seeds.get(sumPk)?.set(toBase64Url(participantPk), encryptedSeed);
      }
    }
    this.seeds = seeds;
    return seeds;
  }

  /** The payloads received of one kind. */
  payloads<K extends Payload['kind']>(kind: K): Extract<Payload, { kind: K }>[] {
    return this.received.map((m) => m.payload).filter((p): p is Extract<Payload, { kind: K }> => p.kind === kind);
  }

  /** This coordinator with some of its routes replaced (to make one of them fail). */
  with(overrides: Partial<CoordinatorClient>): CoordinatorClient {
    return {
      getParams: () => this.getParams(),
      getSums: () => this.getSums(),
      getSeeds: (pk) => this.getSeeds(pk),
      getModel: () => this.getModel(),
      postMessage: (sealed) => this.postMessage(sealed),
      ...overrides,
    };
  }

  async getParams(): Promise<RoundParameters | undefined> {
    this.calls.params++;
    return this.params;
  }

  async getSums(): Promise<ReadonlyMap<string, Uint8Array> | undefined> {
    this.calls.sums++;
    return this.sums;
  }

  async getSeeds(sumParticipantPk: Uint8Array): Promise<ReadonlyMap<string, Uint8Array> | undefined> {
    this.calls.seeds++;
    if (this.seeds === undefined) return undefined;
    const key = toBase64Url(sumParticipantPk);
    const dict = this.seeds.get(key);
    if (dict === undefined) {
      throw new CoordinatorRejectedError(404, 'unknown-sum-participant', `${key} is not in the sum dictionary`);
    }
    return dict;
  }

  async getModel(): Promise<GlobalModel | undefined> {
    this.calls.model++;
    return this.model;
  }

  async postMessage(sealed: Uint8Array): Promise<void> {
    const post = this.calls.post++;
    const failure = this.failPost?.(post);
    if (failure !== undefined) throw failure;
    const { params, roundKeys } = this;
    if (params === undefined || roundKeys === undefined) {
      throw new CoordinatorRejectedError(409, 'wrong-phase', 'no round is running');
    }
    const expect = { config: params.maskConfig, modelLength: params.modelLength };
    try {
      const opened = openMessage(this.crypto, sealed, roundKeys, expect);
      const participantPk = toBase64Url(opened.participantPk);
      if (!opened.multipart) {
        this.accept(opened.participantPk, opened.payload);
        this.posts.push({
          participantPk,
          tag: opened.tag,
          chunkIndex: undefined,
          chunk: undefined,
          sealedBytes: sealed.length,
        });
        return;
      }
      const whole = this.assembler.add(participantPk, TAGS[opened.tag], opened.chunk);
      if (whole !== undefined) this.accept(opened.participantPk, decodePayload(opened.tag, whole, expect));
      const chunkIndex = decodeChunk(opened.chunk).index;
      this.posts.push({ participantPk, tag: opened.tag, chunkIndex, chunk: opened.chunk, sealedBytes: sealed.length });
    } catch (error) {
      if (isPetError(error)) throw new CoordinatorRejectedError(400, error.code, error.message, { cause: error });
      throw error;
    }
  }

  private accept(participantPk: Uint8Array, payload: Payload): void {
    const key = toBase64Url(participantPk);
    const tag = payload.kind;
    if (this.received.some((m) => toBase64Url(m.participantPk) === key && m.payload.kind === tag)) {
      throw new CoordinatorRejectedError(409, 'duplicate-message', `a ${tag} message of ${key} was accepted already`);
    }
    this.received.push({ participantPk, payload });
  }
}

function newAssembler(): ChunkAssembler {
  return new ChunkAssembler({ maxBytesPerParticipant: 1 << 24, maxTotalBytes: 1 << 26 });
}
