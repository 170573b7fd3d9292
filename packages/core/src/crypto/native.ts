/**
 * The platform's own crypto (OpenSSL in Node.js), for the three operations where libsodium's
 * WebAssembly build is slowest on large inputs and where both compute the same function, so the
 * output is the same to the bit (docs/decisions/0013-native-crypto-on-node.md):
 *
 * - SHA-256 (about 10× faster on a 6.4 MB payload);
 * - the mask keystream, IETF ChaCha20 with the block counter in the IV (about 6×);
 * - Ed25519 signing, deterministic by RFC 8032 (about 2×).
 *
 * It is reached through `process.getBuiltinModule` (Node.js ≥ 20.16), never an import, so a
 * bundle for the browser or React Native neither contains nor asks for it: there the functions
 * stay libsodium's. Before it is used, `nativeCrypto` checks it against libsodium on fixed inputs
 * (`selfTest`); any difference, or a missing function, leaves libsodium in charge.
 *
 * Verifying stays libsodium's everywhere: its checks on keys and signatures (canonical S, no
 * small-order R or key) are stricter than OpenSSL's, and a verdict must not depend on where the
 * coordinator runs.
 *
 * SECURITY: a signing call hands OpenSSL the 32-byte seed of the identity key in a PKCS #8
 * buffer that is wiped right after; OpenSSL's own key object is freed when garbage-collected and
 * not zeroed. The same holds for a keystream's key inside a cipher context. Where the heap of
 * the process is readable, so is the state those keys came from (docs/security.md §6).
 */

import { equalBytes } from '../bytes.ts';

/** The subset of `node:crypto` used here. */
interface NodeCryptoModule {
  createHash(algorithm: 'sha256'): { update(data: Uint8Array): { digest(): Uint8Array } };
  createCipheriv(algorithm: 'chacha20', key: Uint8Array, iv: Uint8Array): { update(data: Uint8Array): Uint8Array };
  createPrivateKey(key: { key: Uint8Array; format: 'der'; type: 'pkcs8' }): unknown;
  sign(algorithm: null, data: Uint8Array, key: unknown): Uint8Array;
}

export interface NativeCrypto {
  sha256(message: Uint8Array): Uint8Array;
  /** `length` bytes of IETF ChaCha20 keystream from block `block` (counter < 2^32). */
  chacha20(key: Uint8Array, nonce: Uint8Array, block: number, length: number): Uint8Array;
  /** The Ed25519 signature of `message` under a 64-byte libsodium secret key (seed ‖ public key). */
  sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array;
}

/** What `nativeCrypto` compares the native functions with: libsodium's. */
export interface ReferenceCrypto {
  sha256(message: Uint8Array): Uint8Array;
  chacha20(key: Uint8Array, nonce: Uint8Array, block: number, length: number): Uint8Array;
  sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array;
  signingKeyPair(seed: Uint8Array): { readonly secretKey: Uint8Array };
}

/** PKCS #8 DER prefix of an Ed25519 private key (RFC 8410): the 32-byte seed follows. */
const ED25519_PKCS8_PREFIX = [
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

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
  const needed = ['createHash', 'createCipheriv', 'createPrivateKey', 'sign'] as const;
  return needed.every((name) => typeof module[name] === 'function') ? (module as NodeCryptoModule) : undefined;
}

function wrap(node: NodeCryptoModule): NativeCrypto {
  let zeros = new Uint8Array(0);
  return {
    sha256: (message) => plain(node.createHash('sha256').update(message).digest()),
    chacha20(key, nonce, block, length) {
      // OpenSSL's "chacha20" IV is the 32-bit block counter (little-endian) ‖ the 96-bit nonce.
      const iv = new Uint8Array(16);
      new DataView(iv.buffer).setUint32(0, block, true);
      iv.set(nonce, 4);
      if (zeros.length < length) zeros = new Uint8Array(length);
      return plain(node.createCipheriv('chacha20', key, iv).update(zeros.subarray(0, length)));
    },
    sign(message, secretKey) {
      const der = new Uint8Array(ED25519_PKCS8_PREFIX.length + 32);
      der.set(ED25519_PKCS8_PREFIX, 0);
      der.set(secretKey.subarray(0, 32), ED25519_PKCS8_PREFIX.length);
      try {
        return plain(node.sign(null, message, node.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })));
      } finally {
        der.fill(0);
      }
    },
  };
}

/**
 * True when `native` computes what `reference` does on fixed inputs: the hash of an empty and of
 * a multi-block input, keystream at block 0 and mid-stream across a partial block, and a
 * signature from a fixed seed.
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
      equalBytes(native.sign(input, secretKey), reference.sign(input, secretKey))
    );
  } catch {
    return false;
  } finally {
    secretKey.fill(0);
  }
}

/** The platform's crypto when it exists here and passes `selfTest`, else undefined. */
export function nativeCrypto(reference: ReferenceCrypto): NativeCrypto | undefined {
  const module = loadModule();
  if (module === undefined) return undefined;
  const native = wrap(module);
  return selfTest(native, reference) ? native : undefined;
}
