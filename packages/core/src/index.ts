/**
 * @petfl/core — the isomorphic PET protocol: crypto, masking, wire format.
 * Re-exports only (CONVENTIONS §14).
 */

export { ByteReader, ByteWriter, fromBase64Url, toBase64Url } from './bytes.ts';
export {
  bytesToBigIntLE,
  doubleToRational,
  isEligibleHash,
  selectTask,
  type Task,
  type TaskSelection,
  taskSignature,
  verifyTaskSignature,
} from './crypto/eligibility.ts';
export {
  ENCRYPT_PUBLIC_KEY_BYTES,
  type EncryptKeyPair,
  HASH_BYTES,
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
export { Aggregation } from './mask/aggregation.ts';
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
export { type Elements, type Group, groupFor } from './mask/group.ts';
export type { MaskObject } from './mask/mask-object.ts';
export { deriveMask, Masker, type MaskResult, validateModel } from './mask/masker.ts';
