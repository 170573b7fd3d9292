/**
 * The platform's own crypto (OpenSSL in Node.js), for the operations where libsodium's
 * WebAssembly build is slowest and where both compute the same function, so the output is the
 * same to the bit, the verdict the same (docs/decisions/0013-native-crypto-on-node.md):
 *
 * - SHA-256 (about 10× faster on a 6.4 MB payload);
 * - the mask keystream, IETF ChaCha20 with the block counter in the IV (about 6×);
 * - Ed25519 signing, deterministic by RFC 8032 (about 2×);
 * - Ed25519 verification (about 2×), behind libsodium's own checks on the signature and the key
 *   (ed25519-checks.ts: canonical S, no small-order R or key, a canonical key), so the verdict is
 *   libsodium's: OpenSSL alone accepts some signatures libsodium refuses;
 * - X25519 key agreement for opening sealed boxes (a 32-byte seed's box opens in 45 µs, not 79):
 *   where OpenSSL refuses a key (small order: an all-zero secret), libsodium decides, and it
 *   refuses those too;
 * - ChaCha20-Poly1305 (RFC 8439), the body of a message envelope (ADR 0019): sealing or opening
 *   a 7 MB update 12 ms against libsodium's 37–43 ms.
 *
 * It is reached through `process.getBuiltinModule` (Node.js ≥ 20.16), never an import, so a
 * bundle for the browser or React Native neither contains nor asks for it: there the functions
 * stay libsodium's. Before it is used, `nativeCrypto` checks it against libsodium on fixed inputs
 * (`selfTest`); any difference, or a missing function, leaves libsodium in charge.
 *
 * SECURITY: signing hands OpenSSL the 32-byte seed of the identity key as a JWK, whose base64url
 * string cannot be wiped and stays in the heap until collected. OpenSSL's key object is kept as
 * long as the secret-key array it came from (a WeakMap on that array, with the SHA-256 of its bytes
 * to notice a wipe), is freed when garbage-collected and not zeroed. The same holds for an X25519
 * secret key (a sum participant's ephemeral key, the coordinator's round key, the ephemeral key
 * of an update's seed boxes) and for a keystream's key inside a cipher context.
 * Where the heap of the process is readable, so is the state those keys came from (docs/security.md §6).
 */

import { equalBytes, toBase64Url } from '../bytes.ts';
import { passesLibsodiumChecks } from './ed25519-checks.ts';

/** The subset of `node:crypto` used here. */
export interface NodeCryptoModule {
  createHash(algorithm: 'sha256'): { update(data: Uint8Array): { digest(): Uint8Array } };
  createCipheriv(algorithm: 'chacha20', key: Uint8Array, iv: Uint8Array): { update(data: Uint8Array): Uint8Array };
  createCipheriv(
    algorithm: 'chacha20-poly1305',
    key: Uint8Array,
    iv: Uint8Array,
    options: { authTagLength: 16 },
  ): { update(data: Uint8Array): Uint8Array; final(): Uint8Array; getAuthTag(): Uint8Array };
  /** Optional: without it libsodium keeps the message envelope's AEAD. */
  createDecipheriv?(
    algorithm: 'chacha20-poly1305',
    key: Uint8Array,
    iv: Uint8Array,
    options: { authTagLength: 16 },
  ): { update(data: Uint8Array): Uint8Array; final(): Uint8Array; setAuthTag(tag: Uint8Array): unknown };
  createPrivateKey(key: { key: PrivateJwk; format: 'jwk' }): unknown;
  createPublicKey(key: { key: PublicJwk; format: 'jwk' }): unknown;
  sign(algorithm: null, data: Uint8Array, key: unknown): Uint8Array;
  verify(algorithm: null, data: Uint8Array, key: unknown, signature: Uint8Array): boolean;
  /** X25519 (and other) key agreement; optional: without it libsodium keeps X25519. */
  diffieHellman?(options: { privateKey: unknown; publicKey: unknown }): Uint8Array;
}

/** An Ed25519 or X25519 public key as a JWK (RFC 8037): importing it is ~10× faster than its SPKI DER. */
interface PublicJwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519' | 'X25519';
  readonly x: string;
}

/**
 * An Ed25519 or X25519 private key as a JWK (RFC 8037): `d` the 32-byte seed or secret key, `x`
 * its public key. Importing one took 29 µs where its PKCS #8 DER took 380 µs (Node 20, AMD EPYC):
 * the DER goes through OpenSSL's decoders, the JWK straight to a raw key.
 */
interface PrivateJwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519' | 'X25519';
  readonly d: string;
  readonly x: string;
}

export interface NativeCrypto {
  sha256(message: Uint8Array): Uint8Array;
  /** `length` bytes of IETF ChaCha20 keystream from block `block` (counter < 2^32). */
  chacha20(key: Uint8Array, nonce: Uint8Array, block: number, length: number): Uint8Array;
  /** The Ed25519 signature of `message` under a 64-byte libsodium secret key (seed ‖ public key). */
  sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array;
  /** libsodium's `crypto_sign_verify_detached` verdict on a 64-byte signature and a 32-byte key. */
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  /**
   * The X25519 shared secret of a 32-byte secret key (whose public key is `ownPublicKey`) and a
   * 32-byte public key, or undefined where OpenSSL refuses (a small-order key, whose secret would
   * be all zero) or cannot take the keys: then libsodium decides (sodium.ts). Absent where Node.js
   * has no `diffieHellman`.
   */
  x25519?(secretKey: Uint8Array, ownPublicKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined;
  /**
   * IETF ChaCha20-Poly1305 (RFC 8439) without associated data: the body of a message envelope
   * (ADR 0019). Absent where Node.js has no `createDecipheriv`.
   */
  aead?: NativeAead;
}

/**
 * RFC 8439's AEAD, no associated data: a 32-byte key, a 12-byte nonce, a 16-byte tag. Both
 * directions run in AEAD_CHUNK_BYTES steps into arrays the caller gives: OpenSSL's cipher returns
 * a new array per call, and one array per message of megabytes was fresh memory each time (page
 * faults, collections), where chunks that size are recycled by the allocator.
 */
export interface NativeAead {
  /** Encrypts `message` in place; returns the tag. */
  seal(key: Uint8Array, nonce: Uint8Array, message: Uint8Array): Uint8Array;
  /**
   * Decrypts `ciphertext` into `out` (as long; not `ciphertext` itself) and returns true where the
   * tag authenticates it; otherwise `out` is zeroed and the result false.
   */
  open(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, out: Uint8Array): boolean;
}

/** `bytes`, when it is `length` long; otherwise throws. */
function sameLength(bytes: Uint8Array, length: number): Uint8Array {
  if (bytes.length !== length) throw new Error(`ChaCha20-Poly1305 returned ${bytes.length} bytes for ${length}`);
  return bytes;
}

/** The step of `NativeAead`: below glibc's threshold for mapping an allocation of its own (128 KiB). */
const AEAD_CHUNK_BYTES = 64 * 1024;

/** What `nativeCrypto` compares the native functions with: libsodium's. */
export interface ReferenceCrypto {
  sha256(message: Uint8Array): Uint8Array;
  chacha20(key: Uint8Array, nonce: Uint8Array, block: number, length: number): Uint8Array;
  sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array;
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  signingKeyPair(seed: Uint8Array): { readonly secretKey: Uint8Array };
  /** `crypto_scalarmult`: throws where libsodium refuses the key. */
  x25519(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
  /** `crypto_aead_chacha20poly1305_ietf_encrypt_detached` without associated data. */
  aeadSeal(key: Uint8Array, nonce: Uint8Array, message: Uint8Array): { ciphertext: Uint8Array; tag: Uint8Array };
}

/** A plain Uint8Array over `bytes` (Node returns Buffers, some of them slices of a shared pool). */
const plain = (bytes: Uint8Array): Uint8Array => new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);

function loadModule(): NodeCryptoModule | undefined {
  const platform = globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } };
  let module: Partial<NodeCryptoModule> | undefined;
  try {
    module = platform.process?.getBuiltinModule?.('node:crypto') as Partial<NodeCryptoModule> | undefined;
  } catch {
    return undefined;
  }
  if (module === undefined || module === null) return undefined;
  const needed = ['createHash', 'createCipheriv', 'createPrivateKey', 'createPublicKey', 'sign', 'verify'] as const;
  return needed.every((name) => typeof module[name] === 'function') ? (module as NodeCryptoModule) : undefined;
}

/** An identity key as OpenSSL holds it, and the SHA-256 of the 64 bytes it was made from. */
interface ImportedKey {
  readonly fingerprint: Uint8Array;
  readonly key: unknown;
}

/** The native functions over a `node:crypto`-shaped module (exported for tests, which count its calls). */
export function wrap(node: NodeCryptoModule): NativeCrypto {
  let zeros = new Uint8Array(0);
  const sha256 = (bytes: Uint8Array) => plain(node.createHash('sha256').update(bytes).digest());
  // Importing a key (a JWK, about 30 µs) costs as much as signing 30 KiB: a participant signs every
  // 1 MiB chunk of an update with the same identity key. So the key object is kept per secret-key
  // array, and used again only while the array still holds the bytes it was made from (their
  // SHA-256 is compared; a wiped or reused array gets a new one).
  // The same holds for an X25519 key: a sum participant opens every update's mask seed with its
  // ephemeral key, the coordinator every message with the round key, an update participant seals
  // its seed to every sum participant with one ephemeral key (ADR 0016).
  const importer = (crv: PrivateJwk['crv']) => {
    const imported = new WeakMap<Uint8Array, ImportedKey>();
    return (secretKey: Uint8Array, publicKey: Uint8Array): unknown => {
      const fingerprint = sha256(secretKey);
      const known = imported.get(secretKey);
      if (known !== undefined && equalBytes(known.fingerprint, fingerprint)) return known.key;
      // SECURITY: the secret as base64url in a string, which cannot be wiped; the heap holding it
      // holds the secret-key array too (docs/security.md §6).
      const jwk: PrivateJwk = { kty: 'OKP', crv, d: toBase64Url(secretKey.subarray(0, 32)), x: toBase64Url(publicKey) };
      const key = node.createPrivateKey({ key: jwk, format: 'jwk' });
      imported.set(secretKey, { fingerprint, key });
      return key;
    };
  };
  const signingKey = importer('Ed25519');
  const privateKey = (secretKey: Uint8Array) => signingKey(secretKey, secretKey.subarray(32, 64));
  const agreementKey = importer('X25519');
  const diffieHellman = node.diffieHellman?.bind(node);
  const x25519 =
    diffieHellman === undefined
      ? undefined
      : (secretKey: Uint8Array, ownPublicKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined => {
          try {
            const jwk: PublicJwk = { kty: 'OKP', crv: 'X25519', x: toBase64Url(publicKey) };
            const theirs = node.createPublicKey({ key: jwk, format: 'jwk' });
            // SECURITY: the shared secret; the caller derives the box key from it and wipes it.
            return plain(diffieHellman({ privateKey: agreementKey(secretKey, ownPublicKey), publicKey: theirs }));
          } catch {
            return undefined; // OpenSSL refuses an all-zero secret (a small-order key), or the key
          }
        };
  const createDecipheriv = node.createDecipheriv?.bind(node);
  const aead: NativeAead | undefined =
    createDecipheriv === undefined
      ? undefined
      : {
          seal(key, nonce, message) {
            const cipher = node.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
            // A stream cipher returns as many bytes as it is given: anything else (an OpenSSL that
            // buffered across calls) would leave plaintext in the box, so it is an error.
            for (let at = 0; at < message.length; at += AEAD_CHUNK_BYTES) {
              const chunk = message.subarray(at, at + AEAD_CHUNK_BYTES);
              message.set(sameLength(cipher.update(chunk), chunk.length), at);
            }
            sameLength(cipher.final(), 0);
            return plain(cipher.getAuthTag());
          },
          open(key, nonce, ciphertext, tag, out) {
            const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
            decipher.setAuthTag(tag);
            try {
              for (let at = 0; at < ciphertext.length; at += AEAD_CHUNK_BYTES) {
                const chunk = ciphertext.subarray(at, at + AEAD_CHUNK_BYTES);
                out.set(sameLength(decipher.update(chunk), chunk.length), at);
              }
              sameLength(decipher.final(), 0); // final() throws where the tag does not authenticate
            } catch {
              out.fill(0); // SECURITY: never hand out (or leave readable) an unauthenticated plaintext
              return false;
            }
            return true;
          },
        };
  return {
    ...(x25519 === undefined ? {} : { x25519 }),
    ...(aead === undefined ? {} : { aead }),
    sha256,
    chacha20(key, nonce, block, length) {
      // OpenSSL's "chacha20" IV is the 32-bit block counter (little-endian) ‖ the 96-bit nonce.
      const iv = new Uint8Array(16);
      new DataView(iv.buffer).setUint32(0, block, true);
      iv.set(nonce, 4);
      if (zeros.length < length) zeros = new Uint8Array(length);
      return plain(node.createCipheriv('chacha20', key, iv).update(zeros.subarray(0, length)));
    },
    sign: (message, secretKey) => plain(node.sign(null, message, privateKey(secretKey))),
    verify(signature, message, publicKey) {
      if (!passesLibsodiumChecks(signature, publicKey)) return false;
      try {
        const jwk: PublicJwk = { kty: 'OKP', crv: 'Ed25519', x: toBase64Url(publicKey) };
        return node.verify(null, message, node.createPublicKey({ key: jwk, format: 'jwk' }), signature);
      } catch {
        return false; // a key OpenSSL cannot decode is not on the curve: libsodium refuses it too
      }
    },
  };
}

/**
 * True when `native` computes what `reference` does on fixed inputs: the hash of an empty and of
 * a multi-block input, keystream at block 0 and mid-stream across a partial block, a
 * signature from a fixed seed, and the verdicts on that signature, on a changed message and on
 * a forgery under a small-order key.
 */
export function selfTest(native: NativeCrypto, reference: ReferenceCrypto): boolean {
  const input = Uint8Array.from({ length: 1000 }, (_, i) => (i * 37 + 11) & 0xff);
  const key = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
  const nonce = Uint8Array.from({ length: 12 }, (_, i) => 0xa0 + i);
  const { secretKey } = reference.signingKeyPair(Uint8Array.from({ length: 32 }, (_, i) => 0x40 + i));
  try {
    return (
      equalBytes(native.sha256(new Uint8Array(0)), reference.sha256(new Uint8Array(0))) &&
      equalBytes(native.sha256(input), reference.sha256(input)) &&
      equalBytes(native.chacha20(key, nonce, 0, 200), reference.chacha20(key, nonce, 0, 200)) &&
      equalBytes(native.chacha20(key, nonce, 7, 130), reference.chacha20(key, nonce, 7, 130)) &&
      equalBytes(native.sign(input, secretKey), reference.sign(input, secretKey)) &&
      verdicts(native, reference, secretKey, input) &&
      agreements(native, reference) &&
      aeadAgrees(native, reference, key, nonce, input)
    );
  } catch {
    return false;
  } finally {
    secretKey.fill(0);
  }
}

/** True when `native` and `reference` agree on a valid signature, another message and a small-order forgery. */
function verdicts(native: NativeCrypto, reference: ReferenceCrypto, secretKey: Uint8Array, input: Uint8Array): boolean {
  const agree = (signature: Uint8Array, message: Uint8Array, key: Uint8Array, expected: boolean) =>
    native.verify(signature, message, key) === expected && reference.verify(signature, message, key) === expected;
  const signature = reference.sign(input, secretKey);
  // R = the neutral element (y = 1), S = 0, under the neutral element as key: the Ed25519
  // equation holds for any message, and only libsodium's checks (ed25519-checks.ts) refuse it.
  const forged = new Uint8Array(64);
  forged[0] = 1;
  return (
    agree(signature, input, secretKey.subarray(32), true) &&
    agree(signature, input.subarray(1), secretKey.subarray(32), false) &&
    agree(forged, input, forged.subarray(0, 32), false)
  );
}

/**
 * True when `native` has no X25519, or computes libsodium's shared secret for fixed keys (one
 * public key with its top bit set, which both ignore) and refuses, as libsodium does, the
 * small-order keys 0 and 1.
 */
function agreements(native: NativeCrypto, reference: ReferenceCrypto): boolean {
  if (native.x25519 === undefined) return true;
  const secret = Uint8Array.from({ length: 32 }, (_, i) => 0x70 + i);
  const basePoint = new Uint8Array(32);
  basePoint[0] = 9;
  const own = reference.x25519(secret, basePoint);
  const theirs = [Uint8Array.from({ length: 32 }, (_, i) => (i * 29 + 9) & 0xff)];
  theirs.push(Uint8Array.from(theirs[0] as Uint8Array, (b, i) => (i === 31 ? b | 0x80 : b)));
  for (const key of theirs) {
    const shared = native.x25519(secret, own, key);
    if (shared === undefined || !equalBytes(shared, reference.x25519(secret, key))) return false;
  }
  for (const small of [0, 1]) {
    const key = new Uint8Array(32);
    key[0] = small;
    if (native.x25519(secret, own, key) !== undefined) return false;
    let refused = false;
    try {
      reference.x25519(secret, key);
    } catch {
      refused = true;
    }
    if (!refused) return false;
  }
  return true;
}

/**
 * True when `native` has no AEAD, or seals as libsodium does (ciphertext and tag) at 0, 1 and
 * 1,000 bytes, opens what it sealed, and refuses a changed tag and a changed ciphertext.
 */
function aeadAgrees(
  native: NativeCrypto,
  reference: ReferenceCrypto,
  key: Uint8Array,
  nonce: Uint8Array,
  input: Uint8Array,
): boolean {
  if (native.aead === undefined) return true;
  for (const length of [0, 1, input.length]) {
    const message = input.subarray(0, length);
    const ours = message.slice();
    const ourTag = native.aead.seal(key, nonce, ours);
    const theirs = reference.aeadSeal(key, nonce, message);
    if (!equalBytes(ours, theirs.ciphertext) || !equalBytes(ourTag, theirs.tag)) return false;
    const opened = new Uint8Array(length);
    if (!native.aead.open(key, nonce, theirs.ciphertext, theirs.tag, opened) || !equalBytes(opened, message)) {
      return false;
    }
    const tag = Uint8Array.from(theirs.tag, (b, i) => (i === 5 ? b ^ 0x10 : b));
    if (native.aead.open(key, nonce, theirs.ciphertext, tag, opened)) return false;
    if (length > 0) {
      const changed = Uint8Array.from(theirs.ciphertext, (b, i) => (i === length - 1 ? b ^ 1 : b));
      if (native.aead.open(key, nonce, changed, theirs.tag, opened)) return false;
    }
  }
  return true;
}

/** The platform's crypto when it exists here and passes `selfTest`, else undefined. */
export function nativeCrypto(reference: ReferenceCrypto): NativeCrypto | undefined {
  const module = loadModule();
  if (module === undefined) return undefined;
  const native = wrap(module);
  return selfTest(native, reference) ? native : undefined;
}
