/**
 * The one gate to libsodium (architecture.md §7.2, ADR 0002).
 *
 * Nothing else in petfl imports libsodium-wrappers-sumo. `await initCrypto()`
 * once, then pass the returned `PetCrypto` along. It offers exactly the
 * primitives of protocol.md §5: Ed25519 identity keys and signatures, X25519
 * key pairs, sealed boxes and message envelopes (ADR 0019), SHA-256, randomness,
 * and the ChaCha20 keystream that mask seeds expand into.
 *
 * Every libsodium call goes through `call`, so nothing but a `PetError` ever leaves the gate:
 * libsodium reports misuse with a bare `Error('invalid usage')` or a `TypeError`, which would
 * tell a caller neither what failed nor whether retrying could help. Opening a sealed box
 * fails with 'decrypt-failed', a key that is no key with 'invalid-key' (checked before the call,
 * protocol.md §5.1), anything else with 'crypto-failed'; the message names the operation.
 *
 * Messages (protocol.md §3.2) are signed and sealed, or opened and verified, in one buffer inside
 * libsodium's own memory through the sumo build's module functions (`signAndSeal`,
 * `openSignedSealed`): the wrappers would copy a multi-megabyte message in and out of that memory
 * for each of the two calls and allocate it anew each time.
 *
 * On Node.js, SHA-256, the keystream, the signing and verifying of large messages and the body of
 * a message envelope go to `node:crypto` instead (crypto/native.ts, ADRs 0013 and 0019): the same
 * bits and verdicts, 2–10× faster; the message is then sealed in a JavaScript array.
 * `initCrypto({ native: false })` keeps them here.
 */

import sodium from 'libsodium-wrappers-sumo';
import { expectLength } from '../bytes.ts';
import { PetError } from '../errors.ts';
import { simdChaCha20 } from './chacha20-simd.ts';
import { checkEncryptPublicKey, ENCRYPT_PUBLIC_KEY_BYTES } from './encrypt-public-key.ts';
import { type NativeCrypto, nativeCrypto } from './native.ts';

export { ENCRYPT_PUBLIC_KEY_BYTES };
export const SIGNING_PUBLIC_KEY_BYTES = 32;
export const SIGNING_SECRET_KEY_BYTES = 64;
export const SIGNATURE_BYTES = 64;
export const ENCRYPT_SECRET_KEY_BYTES = 32;
export const SEAL_OVERHEAD_BYTES = 48;
export const HASH_BYTES = 32;
export const SEED_BYTES = 32;

/** Ed25519 identity or message-signing key pair. */
export interface SigningKeyPair {
  readonly publicKey: Uint8Array;
  // SECURITY: the 64-byte Ed25519 secret key; owned by the participant for its lifetime.
  readonly secretKey: Uint8Array;
}

/** X25519 key pair: the coordinator's round key, a sum participant's ephemeral key. */
export interface EncryptKeyPair {
  readonly publicKey: Uint8Array;
  // SECURITY: X25519 secret; owner wipes it when the round (or phase) that uses it ends.
  readonly secretKey: Uint8Array;
}

/**
 * A ChaCha20 keystream (protocol.md §5.2): IETF ChaCha20 keyed by a 32-byte
 * seed with the 12-byte nonce "LibsodiumDRG" and the block counter from 0, so
 * its bytes equal libsodium's `randombytes_buf_deterministic(n, seed)`.
 * It is produced in blocks on demand: memory stays bounded for any length.
 */
export interface Keystream {
  /** The next `length` bytes of the stream; `length` must be a multiple of 64 except on the last call. */
  next(length: number): Uint8Array;
  /**
   * The next `length` bytes written into `out` at `offset`, as `next` would return them, without an
   * array of their own: the mask loops' reader fills one window of its own (mask/sampling.ts).
   */
  nextInto?(out: Uint8Array, offset: number, length: number): void;
  /** Bytes produced so far. */
  readonly position: number;
  /** Wipes the key copy; later calls throw. */
  dispose(): void;
}

export interface PetCrypto {
  /** A fresh Ed25519 key pair, or the one derived from a 32-byte seed (fixtures, restore). */
  signingKeyPair(seed?: Uint8Array): SigningKeyPair;
  sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array;
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  /** A fresh X25519 key pair, or the one derived from a 32-byte seed. */
  encryptKeyPair(seed?: Uint8Array): EncryptKeyPair;
  /**
   * `crypto_box_seal`: anonymous encryption to an X25519 public key (48 bytes overhead). A key
   * `checkEncryptPublicKey` rejects (wrong length, small order, non-canonical) is
   * `PetError('invalid-key')`, named by `field`.
   */
  seal(message: Uint8Array, publicKey: Uint8Array, field?: string): Uint8Array;
  /**
   * `message` sealed to each of `publicKeys`, in their order: every box is a `crypto_box_seal` box
   * that `openSealed` opens, but all of them share one ephemeral key pair (ADR 0016), so the
   * sender makes one key pair instead of one per box. For one message to many recipients only (an
   * update's mask seed to every sum participant). Every key is checked as `seal` checks it before
   * anything is sealed; `field(i)` names the i-th key in errors.
   */
  sealToEach(message: Uint8Array, publicKeys: readonly Uint8Array[], field?: (index: number) => string): Uint8Array[];
  /**
   * Opens a sealed box; throws `PetError('decrypt-failed')` when it cannot, 'invalid-key' for a
   * key pair of the wrong lengths.
   */
  openSealed(ciphertext: Uint8Array, keyPair: EncryptKeyPair, field?: string): Uint8Array;
  /**
   * The message envelope of protocol.md §3.2 (ADR 0019) around `message` as it is: like a sealed
   * box (a fresh X25519 key pair, 48 bytes overhead, opened only with the recipient's secret key),
   * with an XChaCha20-Poly1305 body that a platform's ChaCha20-Poly1305 computes. Checks the key
   * as `seal`. Messages are sealed by `signAndSeal`; this is for what needs the envelope alone.
   */
  sealEnvelope(message: Uint8Array, publicKey: Uint8Array, field?: string): Uint8Array;
  /** Opens a message envelope without looking inside; fails as `openSealed`. */
  openEnvelope(ciphertext: Uint8Array, keyPair: EncryptKeyPair, field?: string): Uint8Array;
  /**
   * Signs and seals a message of `length` bytes (protocol.md §3.2) in one buffer: `write` fills
   * the message, zeroed before; bytes 0..64 are then replaced by the Ed25519 signature of bytes
   * 64..length under `secretKey`, and the whole is put in its envelope for `publicKey` in place
   * (in libsodium's memory, or on Node.js in an array for the platform's ChaCha20-Poly1305).
   * Returns what `sealEnvelope(message with its signature, publicKey)` would.
   * `write` must not use this object (the buffer is its). Checks as `sign` and `seal`.
   */
  signAndSeal(
    length: number,
    write: (message: Uint8Array) => void,
    secretKey: Uint8Array,
    publicKey: Uint8Array,
    field?: string,
  ): Uint8Array;
  /**
   * Opens a signed message's envelope (protocol.md §3.2) in place and returns
   * a copy of it, and whether bytes 0..64 are an Ed25519 signature of bytes 64.. under the key
   * `signer(message)` returns. `signer` runs on the copy first and may throw (the checks that
   * come before the signature's); it must not use this object (the signature may be verified
   * where the message was opened, in this object's memory). Fails as `openSealed`.
   * With `inPlace`, the caller gives `ciphertext` up: once it has opened, the message is written
   * over its first bytes and returned as a view of them instead of a new array (no new memory for
   * a message of megabytes); a message that does not open leaves `ciphertext` as it was.
   */
  openSignedSealed(
    ciphertext: Uint8Array,
    keyPair: EncryptKeyPair,
    signer: (message: Uint8Array) => Uint8Array,
    field?: string,
    inPlace?: boolean,
  ): { readonly message: Uint8Array; readonly signatureValid: boolean };
  /** SHA-256. */
  hash(message: Uint8Array): Uint8Array;
  randomBytes(length: number): Uint8Array;
  keystream(seed: Uint8Array): Keystream;
  /** Overwrites a buffer with zeros (secrets no longer needed). */
  wipe(bytes: Uint8Array): void;
}

/** The nonce of the mask keystream, protocol.md §5.2 (equal to libsodium's deterministic RNG). */
export const KEYSTREAM_NONCE = new Uint8Array([
  0x4c,
  0x69,
  0x62,
  0x73,
  0x6f,
  0x64,
  0x69,
  0x75,
  0x6d,
  0x44,
  0x52,
  0x47, // "LibsodiumDRG"
]);
/** libsodium's wrapper takes the block counter as a signed 32-bit integer. */
const MAX_KEYSTREAM_BLOCKS = 2 ** 31;

/**
 * The functions of libsodium's own module (the wrappers expose it as `libsodium`) that sealing
 * and opening in place use; pointers and lengths are byte offsets into `HEAPU8`, and a 64-bit
 * length is passed as its low and high 32 bits.
 */
interface SodiumModule {
  /** Replaced when the memory grows: read it again after every `_malloc`. */
  readonly HEAPU8: Uint8Array;
  _malloc(bytes: number): number;
  _free(pointer: number): void;
  _crypto_sign_detached(sig: number, sigLength: number, m: number, mLow: number, mHigh: number, sk: number): number;
  _crypto_sign_verify_detached(sig: number, m: number, mLow: number, mHigh: number, pk: number): number;
  _crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
    c: number,
    mac: number,
    macLength: number,
    m: number,
    mLow: number,
    mHigh: number,
    ad: number,
    adLow: number,
    adHigh: number,
    nsec: number,
    npub: number,
    k: number,
  ): number;
  _crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
    m: number,
    nsec: number,
    c: number,
    cLow: number,
    cHigh: number,
    mac: number,
    ad: number,
    adLow: number,
    adHigh: number,
    npub: number,
    k: number,
  ): number;
  _crypto_stream_chacha20_ietf_xor_ic?(
    c: number,
    m: number,
    mLow: number,
    mHigh: number,
    n: number,
    ic: number,
    k: number,
  ): number;
}

/**
 * libsodium's module, when it offers what sealing in place needs; otherwise (another build of the
 * wrappers) `signAndSeal` and `openSignedSealed` fall back to the wrappers' calls and their copies.
 */
function inPlaceModule(): SodiumModule | undefined {
  const lib = (sodium as unknown as { libsodium?: Partial<SodiumModule> }).libsodium;
  const needed = [
    '_malloc',
    '_free',
    '_crypto_sign_detached',
    '_crypto_sign_verify_detached',
    '_crypto_aead_xchacha20poly1305_ietf_encrypt_detached',
    '_crypto_aead_xchacha20poly1305_ietf_decrypt_detached',
  ] as const;
  if (lib === undefined || !(lib.HEAPU8 instanceof Uint8Array)) return undefined;
  return needed.every((name) => typeof lib[name] === 'function') ? (lib as SodiumModule) : undefined;
}

/** The random pool's size in 32-bit words: 4 KiB, one `getRandomValues` call (its limit is 64 KiB). */
const RANDOM_POOL_WORDS = 1024;

/** What fills the random pool: the platform's CSPRNG (`crypto.getRandomValues`). */
export interface RandomSource {
  getRandomValues(array: Uint32Array): unknown;
}

/** Modules whose random source is the pool already. */
const pooled = new WeakSet<object>();

/**
 * libsodium's JavaScript build asks the module's `getRandomValue()` for every random byte it
 * draws, and the wrappers answer each call with `crypto.getRandomValues` of one 32-bit word: a
 * 32-byte ephemeral key took 73 µs, a third of a `crypto_box_seal` (ADR 0014). This serves those
 * words from a pool of 1,024 that the same source refills in one call; each word is zeroed in the
 * pool as it is served. Returns false, changing nothing, where the module has no such hook or
 * there is no source (libsodium then keeps its own).
 *
 * SECURITY: up to 4 KiB of CSPRNG output not yet served sits in this closure, as a CSPRNG's
 * state sits in any process that uses one (docs/security.md §6).
 */
export function installRandomPool(module: object | undefined, source: RandomSource | undefined): boolean {
  const hook = module as { getRandomValue?: unknown } | undefined;
  if (hook === undefined || typeof hook.getRandomValue !== 'function') return false;
  if (source === undefined || typeof source.getRandomValues !== 'function') return false;
  if (pooled.has(hook)) return true;
  const pool = new Uint32Array(RANDOM_POOL_WORDS);
  let next = RANDOM_POOL_WORDS;
  hook.getRandomValue = (): number => {
    if (next === RANDOM_POOL_WORDS) {
      source.getRandomValues(pool);
      next = 0;
    }
    const word = pool[next] as number;
    pool[next++] = 0;
    return word;
  };
  pooled.add(hook);
  return true;
}

/**
 * Messages shorter than this are signed by libsodium even where the platform's Ed25519 is
 * available. With the key imported once (crypto/native.ts), OpenSSL signed 1 KB in 40 µs
 * against libsodium's 53, 64 bytes in about the same time (ADR 0013, amendment of 2026-12-04).
 */
const NATIVE_SIGN_MIN_BYTES = 1024;

/**
 * Signatures over messages shorter than this are verified by libsodium even where the platform's
 * Ed25519 is available: libsodium's checks (ed25519-checks.ts) and importing the key as a JWK
 * cost about 30 µs, which OpenSSL's faster hashing repays from about 4 KB (ADR 0013).
 */
const NATIVE_VERIFY_MIN_BYTES = 8 * 1024;

/** The keys' area at the start of the work buffer: a signing secret key or the two X25519 keys. */
const KEY_AREA_BYTES = 64;
/** The work buffer grows in steps of this many bytes, so similar sizes reuse it. */
const WORK_GRANULE = 64 * 1024;

/**
 * Runs one libsodium operation; whatever it throws becomes `PetError('crypto-failed')` naming
 * `operation`, with the original as `cause`. libsodium's messages say only what was misused
 * ("invalid usage", "invalid nonce length"), never a key or a seed, so they are kept.
 */
function call<T>(operation: string, run: () => T): T {
  try {
    return run();
  } catch (cause) {
    if (cause instanceof PetError) throw cause;
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new PetError('crypto-failed', `${operation}: libsodium failed (${reason})`, { cause });
  }
}

/** Throws 'invalid-key' unless `key` is a Uint8Array of `length` bytes. */
function expectKey(key: Uint8Array, length: number, field: string): void {
  if (!(key instanceof Uint8Array) || key.length !== length) {
    const got = key instanceof Uint8Array ? `${key.length} bytes` : typeof key;
    throw new PetError('invalid-key', `${field}: expected ${length} bytes, got ${got}`);
  }
}

export interface InitCryptoOptions {
  /**
   * Let the platform's own crypto compute SHA-256, the mask keystream and Ed25519 signatures
   * and verifications where it exists and matches libsodium (Node.js: crypto/native.ts). Default
   * true; false keeps every operation in libsodium. The results are the same either way.
   */
  readonly native?: boolean;
  /**
   * Let petfl's WebAssembly SIMD module compute the mask keystream written into arrays, where the
   * platform compiles it and it matches libsodium (crypto/chacha20-simd.ts). Default true; false
   * keeps libsodium's, as React Native (no WebAssembly) runs it. The results are the same either way.
   */
  readonly simd?: boolean;
}

const readyBy = new Map<string, Promise<PetCrypto>>();

/** Initializes libsodium once; every later call with the same options resolves to the same object. */
export function initCrypto(options: InitCryptoOptions = {}): Promise<PetCrypto> {
  const native = options.native ?? true;
  const simd = options.simd ?? true;
  const key = `${native}/${simd}`;
  let ready = readyBy.get(key);
  if (ready === undefined) {
    ready = sodium.ready.then(
      () => createPetCrypto(native, simd),
      (cause: unknown) => {
        readyBy.delete(key);
        throw new PetError('crypto-init', 'libsodium failed to initialize', { cause });
      },
    );
    readyBy.set(key, ready);
  }
  return ready;
}

/** libsodium's versions of what crypto/native.ts may take over, to check it against. */
const reference = {
  sha256: (message: Uint8Array) => sodium.crypto_hash_sha256(message),
  chacha20: (key: Uint8Array, nonce: Uint8Array, block: number, length: number) =>
    sodium.crypto_stream_chacha20_ietf_xor_ic(new Uint8Array(length), nonce, block, key),
  sign: (message: Uint8Array, secretKey: Uint8Array) => sodium.crypto_sign_detached(message, secretKey),
  verify: (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => {
    try {
      return sodium.crypto_sign_verify_detached(signature, message, publicKey);
    } catch {
      return false;
    }
  },
  signingKeyPair: (seed: Uint8Array) => ({ secretKey: sodium.crypto_sign_seed_keypair(seed).privateKey }),
  x25519: (secretKey: Uint8Array, publicKey: Uint8Array) => sodium.crypto_scalarmult(secretKey, publicKey),
  aeadSeal: (key: Uint8Array, nonce: Uint8Array, message: Uint8Array) => {
    const { ciphertext, mac } = sodium.crypto_aead_chacha20poly1305_ietf_encrypt_detached(
      message,
      null,
      null,
      nonce,
      key,
    );
    return { ciphertext, tag: mac };
  },
};

/**
 * `crypto_box_seal_open` with the X25519 step done by the platform (crypto/native.ts): the box key
 * is HSalsa20 of the shared secret (`crypto_box_beforenm`), the nonce BLAKE2b-192(epk ‖ pk), and
 * the rest is libsodium's. Undefined where the platform refuses the box's ephemeral key: then
 * libsodium opens (or refuses) it. Throws where the box does not authenticate.
 */
function openNatively(
  x25519: NonNullable<NativeCrypto['x25519']>,
  ciphertext: Uint8Array,
  keyPair: EncryptKeyPair,
): Uint8Array | undefined {
  const ephemeralPk = ciphertext.subarray(0, ENCRYPT_PUBLIC_KEY_BYTES);
  // SECURITY: the shared secret and the box key derived from it are wiped here.
  const shared = x25519(keyPair.secretKey, keyPair.publicKey, ephemeralPk);
  if (shared === undefined) return undefined;
  const key = sodium.crypto_core_hsalsa20(HSALSA20_ZERO_INPUT, shared, null);
  shared.fill(0);
  try {
    const nonce = sealedBoxNonce(ephemeralPk, keyPair.publicKey);
    return sodium.crypto_box_open_easy_afternm(ciphertext.subarray(ENCRYPT_PUBLIC_KEY_BYTES), nonce, key);
  } finally {
    sodium.memzero(key);
  }
}

/**
 * `crypto_box_seal(message, publicKey)` with the ephemeral key pair given, not drawn: the box key
 * is HSalsa20 of X25519(ephemeral secret, publicKey) (`crypto_box_beforenm`; the X25519 step by
 * the platform where it takes the key), the nonce BLAKE2b-192(epk ‖ pk), and the box is
 * epk ‖ `crypto_box_easy_afternm`. The key's checks are the caller's.
 */
function sealWithEphemeral(
  x25519: NativeCrypto['x25519'],
  message: Uint8Array,
  ephemeral: { readonly publicKey: Uint8Array; readonly privateKey: Uint8Array },
  publicKey: Uint8Array,
): Uint8Array {
  // SECURITY: the shared secret and the box key derived from it are wiped here.
  const shared = x25519?.(ephemeral.privateKey, ephemeral.publicKey, publicKey);
  const key =
    shared === undefined
      ? sodium.crypto_box_beforenm(publicKey, ephemeral.privateKey)
      : sodium.crypto_core_hsalsa20(HSALSA20_ZERO_INPUT, shared, null);
  shared?.fill(0);
  try {
    const body = sodium.crypto_box_easy_afternm(message, sealedBoxNonce(ephemeral.publicKey, publicKey), key);
    const box = new Uint8Array(ENCRYPT_PUBLIC_KEY_BYTES + body.length);
    box.set(ephemeral.publicKey, 0);
    box.set(body, ENCRYPT_PUBLIC_KEY_BYTES);
    return box;
  } finally {
    sodium.memzero(key);
  }
}

/** A sealed box's nonce: BLAKE2b-192(ephemeral public key ‖ recipient's public key). */
function sealedBoxNonce(ephemeralPk: Uint8Array, recipientPk: Uint8Array): Uint8Array {
  const preimage = new Uint8Array(2 * ENCRYPT_PUBLIC_KEY_BYTES);
  preimage.set(ephemeralPk, 0);
  preimage.set(recipientPk, ENCRYPT_PUBLIC_KEY_BYTES);
  return sodium.crypto_generichash(BOX_NONCE_BYTES, preimage, null);
}

/**
 * A message envelope's keys (protocol.md §3.2, ADR 0019) for one ephemeral key `epk` and the
 * recipient's key `pk`: the box key `crypto_box_beforenm` gives (HSalsa20 of the X25519 secret,
 * `shared` where the platform computed it, else libsodium computes it from `secretKey` and the
 * other side's public key) and the nonce BLAKE2b-192(epk ‖ pk), as a sealed box has them. The body
 * is XChaCha20-Poly1305 (IETF) under those: `subkey` = HChaCha20(key, nonce[0..16]) and `iv` =
 * 0⁴ ‖ nonce[16..24] are RFC 8439's key and nonce for a platform's ChaCha20-Poly1305. Throws where
 * libsodium refuses the key (small order).
 *
 * SECURITY: `key` and `subkey` open the message; the caller wipes both (and `shared`).
 */
function envelopeKeys(
  epk: Uint8Array,
  pk: Uint8Array,
  shared: Uint8Array | undefined,
  secretKey: Uint8Array,
  otherPk: Uint8Array,
): { key: Uint8Array; nonce: Uint8Array; subkey: Uint8Array; iv: Uint8Array } {
  const key =
    shared === undefined
      ? sodium.crypto_box_beforenm(otherPk, secretKey)
      : sodium.crypto_core_hsalsa20(HSALSA20_ZERO_INPUT, shared, null);
  const nonce = sealedBoxNonce(epk, pk);
  const subkey = sodium.crypto_core_hchacha20(nonce.subarray(0, 16), key, null);
  const iv = new Uint8Array(12);
  iv.set(nonce.subarray(16), 4);
  return { key, nonce, subkey, iv };
}

/**
 * Runs `run` with an envelope's box key at `base` in libsodium's memory and its nonce right after
 * (the keys' area of the work buffer), passing their addresses; the area is wiped afterwards.
 */
function withBoxKey(
  heap: Uint8Array,
  base: number,
  keys: { readonly key: Uint8Array; readonly nonce: Uint8Array },
  run: (key: number, nonce: number) => number,
): number {
  try {
    // SECURITY: a copy of the box key, wiped right after use.
    heap.set(keys.key, base);
    heap.set(keys.nonce, base + ENCRYPT_PUBLIC_KEY_BYTES);
    return run(base, base + ENCRYPT_PUBLIC_KEY_BYTES);
  } finally {
    heap.fill(0, base, base + KEY_AREA_BYTES);
  }
}

/** HSalsa20's 16-byte input for `crypto_box_beforenm`: all zero. */
const HSALSA20_ZERO_INPUT = new Uint8Array(16);
/** `crypto_box_NONCEBYTES`. */
const BOX_NONCE_BYTES = 24;

/** A buffer in libsodium's memory, reused by later calls and grown in WORK_GRANULE steps. */
class ScratchArea {
  private pointer = 0;
  private bytes = 0;

  /** Its address, grown to at least `bytes`; its contents are not kept. */
  reserve(lib: SodiumModule, bytes: number, operation: string): number {
    if (bytes > this.bytes) {
      if (this.pointer !== 0) lib._free(this.pointer);
      this.pointer = 0;
      this.bytes = 0;
      const size = Math.ceil(bytes / WORK_GRANULE) * WORK_GRANULE;
      const pointer = lib._malloc(size);
      if (pointer === 0) throw new PetError('crypto-failed', `${operation}: cannot allocate ${size} bytes`);
      this.pointer = pointer;
      this.bytes = size;
    }
    return this.pointer;
  }
}

/** A JavaScript array reused by later calls, grown in WORK_GRANULE steps. */
class PlainScratch {
  private bytes = new Uint8Array(0);

  /** A view of `length` bytes; its contents are not kept. */
  reserve(length: number): Uint8Array {
    if (length > this.bytes.length) this.bytes = new Uint8Array(Math.ceil(length / WORK_GRANULE) * WORK_GRANULE);
    return this.bytes.subarray(0, length);
  }
}

/** Writes `length` bytes of `key`'s keystream from block `block` into `out` at `offset`. */
type ProduceInto = (key: Uint8Array, block: number, out: Uint8Array, offset: number, length: number) => void;

/**
 * The mask keystream of one seed (`PetCrypto.keystream`). A class rather than an object literal
 * with a getter: V8 gives every such literal a hidden class of its own, so the optimized mask
 * loops (mask/group.ts), which call `next` through the reader, were specialized to one stream's
 * class and thrown away when that stream was collected, and every mask of a new round ran in
 * unoptimized code again (docs/architecture.md §7.6). Every instance of a class shares one.
 */
class ChaCha20Keystream implements Keystream {
  private block = 0;
  private disposed = false;
  /** SECURITY: a copy of the mask seed, wiped by dispose(). */
  private readonly key: Uint8Array;
  private readonly produce: (key: Uint8Array, block: number, length: number) => Uint8Array;
  private readonly produceInto: ProduceInto;

  constructor(
    key: Uint8Array,
    produce: (key: Uint8Array, block: number, length: number) => Uint8Array,
    produceInto: ProduceInto,
  ) {
    this.key = key;
    this.produce = produce;
    this.produceInto = produceInto;
  }

  get position(): number {
    return this.block * 64;
  }

  next(length: number): Uint8Array {
    const blocks = this.take(length);
    const out = this.produce(this.key, this.block, length);
    this.block += blocks;
    return out;
  }

  nextInto(out: Uint8Array, offset: number, length: number): void {
    const blocks = this.take(length);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > out.length) {
      throw new PetError('crypto-failed', `mask keystream: ${length} bytes at ${offset} do not fit in ${out.length}`);
    }
    this.produceInto(this.key, this.block, out, offset, length);
    this.block += blocks;
  }

  /** The blocks `length` bytes take, once checked against the stream's state and its limit. */
  private take(length: number): number {
    if (this.disposed) throw new PetError('crypto-failed', 'mask keystream: used after dispose()');
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new PetError('crypto-failed', `mask keystream: expected a length ≥ 0, got ${length}`);
    }
    const blocks = Math.ceil(length / 64);
    if (this.block + blocks > MAX_KEYSTREAM_BLOCKS) {
      throw new PetError('keystream-exhausted', `mask keystream: more than ${MAX_KEYSTREAM_BLOCKS} blocks requested`);
    }
    return blocks;
  }

  dispose(): void {
    this.disposed = true;
    sodium.memzero(this.key);
  }
}

function createPetCrypto(useNative: boolean, useSimd: boolean): PetCrypto {
  installRandomPool(
    (sodium as unknown as { libsodium?: object }).libsodium,
    (globalThis as { crypto?: RandomSource }).crypto,
  );
  const zeros = new Uint8Array(64 * 1024);
  const lib = inPlaceModule();
  const native: NativeCrypto | undefined = useNative ? nativeCrypto(reference) : undefined;
  // One buffer in libsodium's memory, reused by every message: keys ‖ box header (48) ‖ message.
  const work = new ScratchArea();
  /** The platform's ChaCha20-Poly1305, where it has one and X25519 too: message envelopes (ADR 0019). */
  const aead = native?.x25519 === undefined ? undefined : native.aead;
  // Where messages opened in place are decrypted first (its last one stays in it, as a message
  // opened in libsodium's memory stays there: the coordinator keeps the message anyway).
  const plainScratch = new PlainScratch();

  // WebAssembly SIMD, four blocks at a time, where the platform compiles it and it agrees with
  // libsodium (chacha20-simd.ts): about twice libsodium's speed; it writes into a given array.
  const simd = useSimd ? simdChaCha20(reference.chacha20) : undefined;

  /** `length` bytes of the mask keystream of `key` from 64-byte block `block` (protocol.md §5.2). */
  const chacha20 = (key: Uint8Array, block: number, length: number): Uint8Array =>
    call('mask keystream (ChaCha20)', () => {
      if (native !== undefined) return native.chacha20(key, KEYSTREAM_NONCE, block, length);
      if (simd !== undefined) {
        const out = new Uint8Array(length);
        simd(key, KEYSTREAM_NONCE, block, out, 0, length);
        return out;
      }
      const input = length <= zeros.length ? zeros.subarray(0, length) : new Uint8Array(length);
      return sodium.crypto_stream_chacha20_ietf_xor_ic(input, KEYSTREAM_NONCE, block, key);
    });

  /**
   * The mask keystream written straight into a caller's array: by the SIMD module where there is
   * one, else computed in libsodium's memory (a scratch area of its own: nonce ‖ key ‖ output);
   * either way copied out and wiped where it was computed. Neither Node's cipher nor the wrappers
   * can write into a given array: each call returned a new one, about 7 MB of garbage per mask of
   * 10⁶ weights, whose fresh pages cost more than the keystream itself (docs/architecture.md §7.6).
   */
  const streamScratch = new ScratchArea();
  const xorIc = lib?._crypto_stream_chacha20_ietf_xor_ic?.bind(lib);
  const chacha20Into: ProduceInto = (key, block, out, offset, length) =>
    call('mask keystream (ChaCha20)', () => {
      if (simd !== undefined) {
        simd(key, KEYSTREAM_NONCE, block, out, offset, length);
        return;
      }
      if (lib === undefined || xorIc === undefined) {
        const bytes = chacha20(key, block, length);
        out.set(bytes, offset);
        bytes.fill(0);
        return;
      }
      const noncePtr = streamScratch.reserve(lib, KEYSTREAM_NONCE.length + key.length + length, 'mask keystream');
      const keyPtr = noncePtr + KEYSTREAM_NONCE.length;
      const data = keyPtr + key.length;
      const heap = lib.HEAPU8; // read after the _malloc: the memory may have grown
      heap.set(KEYSTREAM_NONCE, noncePtr);
      heap.set(key, keyPtr); // SECURITY: a copy of the mask seed, wiped below
      heap.fill(0, data, data + length);
      const failed = xorIc(data, data, length, 0, noncePtr, block, keyPtr);
      if (failed === 0) out.set(heap.subarray(data, data + length), offset);
      heap.fill(0, keyPtr, data + length); // SECURITY: the seed copy and the keystream
      if (failed !== 0)
        throw new PetError('crypto-failed', 'mask keystream: crypto_stream_chacha20_ietf_xor_ic failed');
    });

  /**
   * `length` bytes that `write` fills (zeroed before) in their envelope for `publicKey` (protocol.md
   * §3.2, ADR 0019), in place; with `secretKey`, bytes 0..64 are first replaced by the Ed25519
   * signature of bytes 64..length. The key and the length are the caller's to check.
   */
  const envelope = (
    length: number,
    write: (message: Uint8Array) => void,
    secretKey: Uint8Array | undefined,
    publicKey: Uint8Array,
    field: string,
  ): Uint8Array => {
    // The envelope (protocol.md §3.2, ADR 0019): a fresh X25519 key pair, the box key and nonce
    // of a sealed box, and an XChaCha20-Poly1305 body; epk ‖ tag ‖ ciphertext.
    const ephemeral = call(`${field}: sealing`, () => sodium.crypto_box_keypair());
    // SECURITY: the ephemeral secret, the shared secret and the keys derived from them are wiped below.
    const shared =
      aead === undefined ? undefined : native?.x25519?.(ephemeral.privateKey, ephemeral.publicKey, publicKey);
    let keys: ReturnType<typeof envelopeKeys>;
    try {
      keys = call(`${field}: sealing`, () =>
        envelopeKeys(ephemeral.publicKey, publicKey, shared, ephemeral.privateKey, publicKey),
      );
    } finally {
      shared?.fill(0);
      sodium.memzero(ephemeral.privateKey);
    }
    try {
      if (aead !== undefined && shared !== undefined) {
        // The platform's ChaCha20-Poly1305: the message is written, signed and encrypted in place
        // in the array that is returned.
        const box = new Uint8Array(SEAL_OVERHEAD_BYTES + length);
        const message = box.subarray(SEAL_OVERHEAD_BYTES);
        write(message);
        if (secretKey !== undefined) message.set(api.sign(message.subarray(SIGNATURE_BYTES), secretKey), 0);
        const tag = call(`${field}: sealing`, () => aead.seal(keys.subkey, keys.iv, message));
        box.set(tag, ENCRYPT_PUBLIC_KEY_BYTES);
        box.set(ephemeral.publicKey, 0);
        return box;
      }
      if (lib === undefined) {
        const message = new Uint8Array(length);
        write(message);
        if (secretKey !== undefined) message.set(api.sign(message.subarray(SIGNATURE_BYTES), secretKey), 0);
        const { ciphertext, mac } = call(`${field}: sealing`, () =>
          sodium.crypto_aead_xchacha20poly1305_ietf_encrypt_detached(message, null, null, keys.nonce, keys.key),
        );
        const box = new Uint8Array(SEAL_OVERHEAD_BYTES + length);
        box.set(ephemeral.publicKey, 0);
        box.set(mac, ENCRYPT_PUBLIC_KEY_BYTES);
        box.set(ciphertext, SEAL_OVERHEAD_BYTES);
        return box;
      }
      const base = work.reserve(lib, KEY_AREA_BYTES + SEAL_OVERHEAD_BYTES + length, `${field}: sealing`);
      const box = base + KEY_AREA_BYTES;
      // The message sits where the ciphertext goes (after the 32-byte ephemeral key and the
      // 16-byte tag), so it is encrypted in place without a copy.
      const m = box + SEAL_OVERHEAD_BYTES;
      const heap = lib.HEAPU8;
      heap.fill(0, m, m + length);
      write(heap.subarray(m, m + length));
      if (secretKey === undefined) {
        // the envelope alone
      } else if (native !== undefined && length - SIGNATURE_BYTES >= NATIVE_SIGN_MIN_BYTES) {
        const signature = call('signing (Ed25519)', () =>
          native.sign(heap.subarray(m + SIGNATURE_BYTES, m + length), secretKey),
        );
        heap.set(signature, m);
      } else {
        try {
          // SECURITY: a copy of the caller's identity secret key, wiped right after signing.
          heap.set(secretKey, base);
          call('signing (Ed25519)', () =>
            lib._crypto_sign_detached(m, 0, m + SIGNATURE_BYTES, length - SIGNATURE_BYTES, 0, base),
          );
        } finally {
          heap.fill(0, base, base + SIGNING_SECRET_KEY_BYTES);
        }
      }
      const sealed = withBoxKey(heap, base, keys, (key, nonce) =>
        call(`${field}: sealing`, () =>
          lib._crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
            m,
            box + ENCRYPT_PUBLIC_KEY_BYTES,
            0,
            m,
            length,
            0,
            0,
            0,
            0,
            0,
            nonce,
            key,
          ),
        ),
      );
      if (sealed !== 0) throw new PetError('crypto-failed', `${field}: sealing: libsodium failed`);
      heap.set(ephemeral.publicKey, box);
      return heap.slice(box, m + length);
    } finally {
      sodium.memzero(keys.key);
      sodium.memzero(keys.subkey);
    }
  };

  const api: PetCrypto = {
    signingKeyPair(seed) {
      const kp =
        seed === undefined
          ? call('signing key pair', () => sodium.crypto_sign_keypair())
          : call('signing key pair from a seed', () =>
              sodium.crypto_sign_seed_keypair(expectLength(seed, SEED_BYTES, 'signing key seed')),
            );
      return { publicKey: kp.publicKey, secretKey: kp.privateKey };
    },
    sign(message, secretKey) {
      expectLength(secretKey, SIGNING_SECRET_KEY_BYTES, 'signing secret key');
      return call('signing (Ed25519)', () =>
        native === undefined || message.length < NATIVE_SIGN_MIN_BYTES
          ? sodium.crypto_sign_detached(message, secretKey)
          : native.sign(message, secretKey),
      );
    },
    verify(signature, message, publicKey) {
      if (signature.length !== SIGNATURE_BYTES || publicKey.length !== SIGNING_PUBLIC_KEY_BYTES) {
        return false;
      }
      if (native !== undefined && message.length >= NATIVE_VERIFY_MIN_BYTES) {
        return native.verify(signature, message, publicKey);
      }
      try {
        return sodium.crypto_sign_verify_detached(signature, message, publicKey);
      } catch {
        // libsodium throws on keys that are not valid points: not a valid signature either.
        return false;
      }
    },
    encryptKeyPair(seed) {
      const kp =
        seed === undefined
          ? call('encryption key pair', () => sodium.crypto_box_keypair())
          : call('encryption key pair from a seed', () =>
              sodium.crypto_box_seed_keypair(expectLength(seed, SEED_BYTES, 'encryption key seed')),
            );
      return { publicKey: kp.publicKey, secretKey: kp.privateKey };
    },
    seal(message, publicKey, field = 'sealing public key') {
      // protocol.md §5.1: a small-order or non-canonical key would make libsodium throw a bare
      // 'invalid usage' (or, for a non-canonical one, seal to a key known under another name).
      checkEncryptPublicKey(publicKey, field);
      return call(`${field}: sealing`, () => sodium.crypto_box_seal(message, publicKey));
    },
    sealToEach(message, publicKeys, field = (index) => `sealing public key ${index}`) {
      for (const [index, publicKey] of publicKeys.entries()) checkEncryptPublicKey(publicKey, field(index));
      if (publicKeys.length === 0) return [];
      // SECURITY: the boxes' one ephemeral key pair (ADR 0016), wiped once every box is sealed.
      const ephemeral = call('sealing: ephemeral key pair', () => sodium.crypto_box_keypair());
      try {
        return publicKeys.map((publicKey, index) =>
          call(`${field(index)}: sealing`, () => sealWithEphemeral(native?.x25519, message, ephemeral, publicKey)),
        );
      } finally {
        sodium.memzero(ephemeral.privateKey);
      }
    },
    openSealed(ciphertext, keyPair, field = 'sealed box') {
      if (!(ciphertext instanceof Uint8Array) || ciphertext.length < SEAL_OVERHEAD_BYTES) {
        const got = ciphertext instanceof Uint8Array ? ciphertext.length : typeof ciphertext;
        throw new PetError('decrypt-failed', `${field}: expected at least ${SEAL_OVERHEAD_BYTES} bytes, got ${got}`);
      }
      expectKey(keyPair.publicKey, ENCRYPT_PUBLIC_KEY_BYTES, `${field}: opening public key`);
      // SECURITY: the caller's X25519 secret key; only its length is looked at here.
      expectKey(keyPair.secretKey, ENCRYPT_SECRET_KEY_BYTES, `${field}: opening secret key`);
      try {
        const opened = native?.x25519 === undefined ? undefined : openNatively(native.x25519, ciphertext, keyPair);
        return opened ?? sodium.crypto_box_seal_open(ciphertext, keyPair.publicKey, keyPair.secretKey);
      } catch (cause) {
        throw new PetError('decrypt-failed', `${field}: cannot be opened with this key`, { cause });
      }
    },
    sealEnvelope(message, publicKey, field = 'sealing public key') {
      checkEncryptPublicKey(publicKey, field);
      if (!(message instanceof Uint8Array)) throw new PetError('crypto-failed', `${field}: sealing: expected bytes`);
      return envelope(message.length, (m) => m.set(message), undefined, publicKey, field);
    },
    openEnvelope(ciphertext, keyPair, field = 'sealed box') {
      return api.openSignedSealed(ciphertext, keyPair, () => new Uint8Array(0), field).message;
    },
    signAndSeal(length, write, secretKey, publicKey, field = 'sealing public key') {
      expectLength(secretKey, SIGNING_SECRET_KEY_BYTES, 'signing secret key');
      checkEncryptPublicKey(publicKey, field);
      if (!Number.isSafeInteger(length) || length < SIGNATURE_BYTES || length > 0xffff_ffff) {
        throw new PetError(
          'crypto-failed',
          `${field}: sealing: expected ${SIGNATURE_BYTES}..2^32 − 1 bytes, got ${length}`,
        );
      }
      return envelope(length, write, secretKey, publicKey, field);
    },
    openSignedSealed(ciphertext, keyPair, signer, field = 'sealed box', inPlace = false) {
      if (!(ciphertext instanceof Uint8Array) || ciphertext.length < SEAL_OVERHEAD_BYTES) {
        const got = ciphertext instanceof Uint8Array ? ciphertext.length : typeof ciphertext;
        throw new PetError('decrypt-failed', `${field}: expected at least ${SEAL_OVERHEAD_BYTES} bytes, got ${got}`);
      }
      expectKey(keyPair.publicKey, ENCRYPT_PUBLIC_KEY_BYTES, `${field}: opening public key`);
      expectKey(keyPair.secretKey, ENCRYPT_SECRET_KEY_BYTES, `${field}: opening secret key`);
      const length = ciphertext.length - SEAL_OVERHEAD_BYTES;
      const epk = ciphertext.subarray(0, ENCRYPT_PUBLIC_KEY_BYTES);
      const tag = ciphertext.subarray(ENCRYPT_PUBLIC_KEY_BYTES, SEAL_OVERHEAD_BYTES);
      // SECURITY: the shared secret and the keys derived from it are wiped below. An ephemeral key
      // the platform refuses (small order) goes to libsodium, which refuses it too.
      const shared = aead === undefined ? undefined : native?.x25519?.(keyPair.secretKey, keyPair.publicKey, epk);
      let keys: ReturnType<typeof envelopeKeys>;
      try {
        keys = envelopeKeys(epk, keyPair.publicKey, shared, keyPair.secretKey, epk);
      } catch (cause) {
        throw new PetError('decrypt-failed', `${field}: cannot be opened with this key`, { cause });
      } finally {
        shared?.fill(0);
      }
      let message: Uint8Array;
      let heapMessage: number | undefined;
      try {
        if (aead !== undefined && shared !== undefined) {
          const body = ciphertext.subarray(SEAL_OVERHEAD_BYTES);
          // In place, the message is decrypted into a scratch array of this object's and copied
          // over the envelope's first bytes only once it has authenticated: a message that does
          // not open is left as it was (the coordinator then tries the previous round's key).
          const out = inPlace ? plainScratch.reserve(length) : new Uint8Array(length);
          const opened = call(`${field}: opening`, () => aead.open(keys.subkey, keys.iv, body, tag, out));
          if (!opened) throw new PetError('decrypt-failed', `${field}: cannot be opened with this key`);
          if (inPlace) {
            message = ciphertext.subarray(0, length);
            message.set(out);
          } else {
            message = out;
          }
        } else if (lib === undefined) {
          try {
            message = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
              null,
              ciphertext.subarray(SEAL_OVERHEAD_BYTES),
              tag,
              null,
              keys.nonce,
              keys.key,
            );
          } catch (cause) {
            throw new PetError('decrypt-failed', `${field}: cannot be opened with this key`, { cause });
          }
        } else {
          const base = work.reserve(lib, KEY_AREA_BYTES + ciphertext.length, `${field}: opening`);
          const box = base + KEY_AREA_BYTES;
          const m = box + SEAL_OVERHEAD_BYTES; // decrypted in place, as sealed
          const heap = lib.HEAPU8;
          heap.set(ciphertext, box);
          const opened = withBoxKey(heap, base, keys, (key, nonce) =>
            call(`${field}: opening`, () =>
              lib._crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
                m,
                0,
                m,
                length,
                0,
                box + ENCRYPT_PUBLIC_KEY_BYTES,
                0,
                0,
                0,
                nonce,
                key,
              ),
            ),
          );
          if (opened !== 0) throw new PetError('decrypt-failed', `${field}: cannot be opened with this key`);
          if (inPlace) {
            message = ciphertext.subarray(0, length);
            message.set(heap.subarray(m, m + length));
          } else {
            message = heap.slice(m, m + length);
          }
          heapMessage = m;
        }
      } finally {
        sodium.memzero(keys.key);
        sodium.memzero(keys.subkey);
      }
      const signerPk = signer(message);
      if (
        length < SIGNATURE_BYTES ||
        !(signerPk instanceof Uint8Array) ||
        signerPk.length !== SIGNING_PUBLIC_KEY_BYTES
      ) {
        return { message, signatureValid: false };
      }
      let signatureValid: boolean;
      if (native !== undefined && length - SIGNATURE_BYTES >= NATIVE_VERIFY_MIN_BYTES) {
        signatureValid = native.verify(
          message.subarray(0, SIGNATURE_BYTES),
          message.subarray(SIGNATURE_BYTES),
          signerPk,
        );
      } else if (lib !== undefined && heapMessage !== undefined) {
        // Still in libsodium's memory, as opened: verified there without another copy.
        const m = heapMessage;
        const base = m - SEAL_OVERHEAD_BYTES - KEY_AREA_BYTES;
        lib.HEAPU8.set(signerPk, base);
        signatureValid =
          call('verifying (Ed25519)', () =>
            lib._crypto_sign_verify_detached(m, m + SIGNATURE_BYTES, length - SIGNATURE_BYTES, 0, base),
          ) === 0;
      } else {
        signatureValid = api.verify(message.subarray(0, SIGNATURE_BYTES), message.subarray(SIGNATURE_BYTES), signerPk);
      }
      return { message, signatureValid };
    },
    hash(message) {
      return call('hashing (SHA-256)', () =>
        native === undefined ? sodium.crypto_hash_sha256(message) : native.sha256(message),
      );
    },
    randomBytes(length) {
      return call(`random bytes (${length})`, () => sodium.randombytes_buf(length));
    },
    keystream(seed) {
      // SECURITY: a copy of the mask seed lives in the stream until dispose().
      return new ChaCha20Keystream(expectLength(seed, SEED_BYTES, 'mask seed').slice(), chacha20, chacha20Into);
    },
    wipe(bytes) {
      call('wiping a buffer', () => sodium.memzero(bytes));
    },
  };
  return api;
}
