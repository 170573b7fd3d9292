/**
 * @petfl/core — the isomorphic PET protocol: crypto, masking, wire format.
 * Re-exports only (architecture.md §7.2).
 */

export { ByteReader, ByteWriter, compareBytes, concatBytes, fromBase64Url, joinBytes, toBase64Url } from './bytes.ts';
export {
  bytesToBigIntLE,
  classifyTaskSignature,
  doubleToRational,
  isEligibleHash,
  selectTask,
  type Task,
  type TaskSelection,
  taskSignature,
  verifyTaskSignature,
} from './crypto/eligibility.ts';
export { checkEncryptPublicKey } from './crypto/encrypt-public-key.ts';
export {
  ENCRYPT_PUBLIC_KEY_BYTES,
  type EncryptKeyPair,
  HASH_BYTES,
  type InitCryptoOptions,
  initCrypto,
  type Keystream,
  type PetCrypto,
  SEAL_OVERHEAD_BYTES,
  SEED_BYTES,
  SIGNATURE_BYTES,
  SIGNING_PUBLIC_KEY_BYTES,
  type SigningKeyPair,
} from './crypto/sodium.ts';
export { isPetError, PET_ERROR_CODES, PetError, type PetErrorCode } from './errors.ts';
export { isLoopbackHost } from './loopback.ts';
export { type AggregateBounds, Aggregation } from './mask/aggregation.ts';
export {
  allMaskConfigs,
  BOUND_TYPES,
  type BoundType,
  configName,
  DATA_TYPES,
  type DataType,
  encodeMaskConfig,
  GROUP_TYPES,
  type GroupType,
  type MaskConfig,
  type MaskParams,
  MODEL_TYPES,
  type ModelType,
  maskOrder,
  maskParams,
  sameConfig,
  validateMaskConfig,
} from './mask/config.ts';
export { type Elements, type Group, groupFor, packedByteLength } from './mask/group.ts';
export { type MaskObject, PackedMaskObject, packedVector } from './mask/mask-object.ts';
export { deriveMask, MASK_BLOCK, Masker, type MaskResult, validateModel } from './mask/masker.ts';
export {
  CHUNK_FLAG_LAST,
  CHUNK_HEADER_BYTES,
  type Chunk,
  ChunkAssembler,
  type ChunkLimits,
  decodeChunk,
  encodeChunk,
  MAX_CHUNKS,
  MIN_CHUNK_COST,
  splitPayload,
} from './message/chunk.ts';
export { DICTIONARY_KEY_BYTES, dictionaryKeyBytes } from './message/dictionary.ts';
export {
  type DecodeGlobalModelOptions,
  decodeGlobalModel,
  encodeGlobalModel,
  GLOBAL_MODEL_DATA_TYPES,
  GLOBAL_MODEL_HEADER_BYTES,
  type GlobalModel,
} from './message/global-model.ts';
export {
  decodeHeader,
  encodeHeader,
  FLAG_MULTIPART,
  HEADER_BYTES,
  HEADER_RANGES,
  type Header,
  type HeaderExpectation,
  MAX_MESSAGE_BYTES,
  type MessageTag,
  readHeader,
  TAGS,
  tagFromWire,
  writeHeader,
} from './message/header.ts';
export {
  decodeLocalSeedDict,
  ENCRYPTED_MASK_SEED_BYTES,
  encodeLocalSeedDict,
  type LocalSeedDict,
  localSeedDictByteLength,
  readLocalSeedDict,
  writeLocalSeedDict,
} from './message/local-seed-dict.ts';
export {
  decodeMaskObject,
  encodeMaskObject,
  type MaskObjectExpectation,
  maskObjectByteLength,
  readMaskObject,
  writeMaskObject,
} from './message/mask-object.ts';
export {
  decodePayload,
  encodeFrame,
  encodeMessage,
  encodePayload,
  type FrameFields,
  type Message,
  type Payload,
  type PayloadExpectation,
} from './message/message.ts';
export { movedOnWithinRound } from './message/phase-token.ts';
export {
  decodeRoundParameters,
  encodeRoundParameters,
  MAX_MODEL_LENGTH,
  type RoundParameters,
  type RoundParametersJson,
  verifyRoundPrivacy,
} from './message/round-parameters.ts';
export {
  type ChunkOptions,
  type OpenedFrame,
  type OpenedMessage,
  type OpenFrameOptions,
  openFrame,
  openMessage,
  sealChunk,
  sealFrame,
  sealMessage,
  sealMessageChunks,
  signMessage,
} from './message/seal.ts';
export {
  decodeSeedDict,
  encodeSeedDict,
  readSeedDict,
  type SeedDict,
  seedDictByteLength,
  writeSeedDict,
} from './message/seed-dict.ts';
export {
  expectSeedsSignature,
  SEEDS_REQUEST_CONTEXT,
  SEEDS_SO_FAR_HEADER,
  seedsRequestMessage,
  signSeedsRequest,
  verifySeedsRequest,
} from './message/seeds-request.ts';
export { decodeSum, encodeSum, SUM_BYTES, type Sum } from './message/sum.ts';
export {
  decodeSumDict,
  encodeSumDict,
  readSumDict,
  type SumDict,
  sumDictByteLength,
  writeSumDict,
} from './message/sum-dict.ts';
export { decodeSum2, encodeSum2, type Sum2, sum2ByteLength } from './message/sum2.ts';
export {
  decodeUpdate,
  encodeMaskedUpdate,
  encodeUpdate,
  type Update,
  type UpdateFields,
  updateByteLength,
} from './message/update.ts';
export {
  decodeUpdateSeedDict,
  encodeUpdateSeedDict,
  readUpdateSeedDict,
  type UpdateSeedDict,
  updateSeedDictByteLength,
  writeUpdateSeedDict,
} from './message/update-seed-dict.ts';
export {
  Accountant,
  accountantDelta,
  accountantEpsilon,
  accountantRho,
  addAccountantEvent,
  createAccountantState,
} from './privacy/accountant/accountant.ts';
export {
  type AccountantEvent,
  type AccountantState,
  validateAccountantState,
} from './privacy/accountant/accountant-state.ts';
export { discreteGaussianRho } from './privacy/accountant/discrete-gaussian.ts';
export {
  type DistributedDiscreteGaussianParameters,
  distributedDiscreteGaussianRho,
  distributedDiscreteGaussianTau,
} from './privacy/accountant/distributed-discrete-gaussian.ts';
export {
  type DiscreteGaussianMechanism,
  type DistributedDiscreteGaussianMechanism,
  type GaussianMechanism,
  type Mechanism,
  type SkellamMechanism,
  type SubsampledGaussianMechanism,
  validateMechanism,
  type ZcdpMechanism,
} from './privacy/accountant/mechanism.ts';
export {
  calibrateNoiseMultiplier,
  type NoiseCalibrationTarget,
  subsampledGaussianEpsilon,
} from './privacy/accountant/noise-calibration.ts';
export { DEFAULT_RDP_ORDERS } from './privacy/accountant/orders.ts';
export { rdpToDelta, rdpToEpsilon } from './privacy/accountant/rdp-conversion.ts';
export { rhoOfZcdpEpsilon, zcdpEpsilonOfRho, zcdpToEpsilon } from './privacy/accountant/zcdp.ts';
export {
  bitsPerCoordinate,
  type DistributedPlanInput,
  distributedPrivacyProblem,
  noiseTailBound,
  planDistributedPrivacy,
  privatizeUpdate,
  releaseAverage,
  requiredUnits,
  TAIL_PROBABILITY,
  unitRange,
  unitShift,
} from './privacy/distributed/distributed-noise.ts';
export { ROTATIONS, type Rotation, rotate, unrotate } from './privacy/distributed/rotation.ts';
export {
  applyClipBit,
  CENTRAL_GRID_STEPS,
  type CentralRoundPrivacy,
  canonicalRoundPrivacy,
  clipBitFraction,
  type DistributedRoundPrivacy,
  effectiveClipNorm,
  isDistributed,
  privacyRoundSeed,
  ROUND_PRIVACY_MECHANISMS,
  type RoundPrivacy,
  type RoundPrivacyMechanism,
  roundedL1Bound,
  roundedNormBound,
  roundPrivacyMechanism,
  roundPrivacyProblems,
  validateRoundPrivacy,
} from './privacy/distributed/round-privacy.ts';
export type { FilterOutcome } from './privacy/filters/filter-outcome.ts';
export type { LaplaceFilter } from './privacy/filters/laplace.ts';
export type { PercentileFilter } from './privacy/filters/percentile.ts';
export {
  applyPrivacyFilters,
  type FilterReport,
  MAX_PRIVACY_FILTERS,
  PRIVACY_FILTER_LIMITS,
  type PrivacyFilter,
  type PrivacyFilterKind,
  privacyFilterProblems,
  validatePrivacyFilters,
} from './privacy/filters/privacy-filter.ts';
export type { SvtFilter } from './privacy/filters/svt.ts';
export { discreteGaussianSampler } from './privacy/sampling/discrete-gaussian.ts';
export { addNoise, type IntegerSampler, sampleVector } from './privacy/sampling/integer-sampler.ts';
export {
  createNoiseSampler,
  type DisposableIntegerSampler,
  type NoiseDistribution,
} from './privacy/sampling/noise.ts';
export {
  cryptoRandomSource,
  type RandomSource,
  randomSource,
  seededRandomSource,
} from './privacy/sampling/random-source.ts';
export { type Rational, rational, sigma2FromSigma } from './privacy/sampling/rational.ts';
export { skellamSampler } from './privacy/sampling/skellam.ts';
export {
  type Contribution,
  clipL2,
  type Evaluation,
  encodeContribution,
  type FederatedMetrics,
  globalLength,
  MAX_METRIC_NAME,
  MAX_METRICS,
  maskedLength,
  type SendKind,
  type SplitAverage,
  splitAverage,
  splitGlobal,
  type VectorLayout,
  validateVectorLayout,
} from './run/vector-layout.ts';
