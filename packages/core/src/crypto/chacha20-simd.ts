/**
 * The mask keystream (protocol.md §5.2: IETF ChaCha20 of the mask seed, nonce KEYSTREAM_NONCE, from
 * a given block) computed four blocks at a time with WebAssembly's 128-bit SIMD, where the platform
 * has it (Node.js, and browsers since 2021–2023); elsewhere (React Native's Hermes has no
 * WebAssembly) libsodium keeps it. libsodium's WebAssembly build computes one block at a time: on
 * the VM of bench/results this module draws 8 MiB in 8.0 ms against libsodium's 17.9 ms
 * (docs/architecture.md §7.6). The module's source is scripts/chacha20-simd.mjs; its binary,
 * chacha20-simd-module.ts, is generated from it (a test checks the two agree).
 *
 * Before it is used, `simdChaCha20` checks it against libsodium on fixed inputs at several block
 * counters and lengths: any difference, or a platform that cannot compile it (no SIMD, no
 * WebAssembly, a Content-Security-Policy without 'wasm-unsafe-eval'), leaves libsodium in charge.
 *
 * SECURITY: each call copies the key (a mask seed) into the module's memory and writes the
 * keystream there; both are wiped before the call returns, whatever happens. The module keeps
 * nothing else between calls.
 */

import { equalBytes, fromBase64Url } from '../bytes.ts';
import {
  CHACHA20_SIMD_MAX_GROUPS,
  CHACHA20_SIMD_OUTPUT,
  CHACHA20_SIMD_PAGES,
  CHACHA20_SIMD_WASM,
} from './chacha20-simd-module.ts';

/** `length` bytes of the keystream of `key` and `nonce` from block `block`, written at `out[offset]`. */
export type StreamInto = (
  key: Uint8Array,
  nonce: Uint8Array,
  block: number,
  out: Uint8Array,
  offset: number,
  length: number,
) => void;

/** libsodium's `crypto_stream_chacha20_ietf_xor_ic` over zeros: what the module must agree with. */
export type ReferenceStream = (key: Uint8Array, nonce: Uint8Array, block: number, length: number) => Uint8Array;

interface Exports {
  readonly memory: { readonly buffer: ArrayBuffer };
  readonly stream: (counter: number, groups: number) => void;
}

/** The minimal WebAssembly surface used here (the lib has no DOM or WebAssembly typings). */
interface WasmNamespace {
  Module: new (bytes: Uint8Array) => unknown;
  Instance: new (module: unknown, imports: object) => { exports: unknown };
}

/** The module instantiated, or undefined where this platform cannot compile it. */
function instantiate(): Exports | undefined {
  const wasm = (globalThis as { WebAssembly?: WasmNamespace }).WebAssembly;
  if (wasm === undefined) return undefined;
  try {
    // Synchronous: the module is under 4 KB, which browsers compile on the main thread too.
    const instance = new wasm.Instance(new wasm.Module(fromBase64Url(CHACHA20_SIMD_WASM, 'SIMD ChaCha20 module')), {});
    const exports = instance.exports as Exports;
    if (exports.memory.buffer.byteLength !== CHACHA20_SIMD_PAGES * 65536) return undefined;
    return exports;
  } catch {
    return undefined; // no SIMD, or a policy that forbids compiling WebAssembly
  }
}

/** A `StreamInto` over an instantiated module. */
function streamInto(exports: Exports): StreamInto {
  const memory = new Uint8Array(exports.memory.buffer); // fixed size: the module never grows it
  return (key, nonce, block, out, offset, length) => {
    if (key.length !== 32 || nonce.length !== 12) throw new Error('chacha20: a 32-byte key and a 12-byte nonce');
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new Error('chacha20: offset and length must be integers ≥ 0');
    }
    if (offset + length > out.length) throw new Error('chacha20: the output does not fit');
    if (!Number.isSafeInteger(block) || block < 0 || block + Math.ceil(length / 64) > 2 ** 32) {
      throw new Error('chacha20: the block counter would pass 2³²');
    }
    let written = 0;
    try {
      memory.set(key, 0); // SECURITY: a copy of the mask seed, wiped below
      memory.set(nonce, 32);
      let counter = block;
      let done = 0;
      while (done < length) {
        const groups = Math.min(CHACHA20_SIMD_MAX_GROUPS, Math.ceil((length - done) / 256));
        exports.stream(counter >>> 0, groups);
        written = Math.max(written, groups * 256);
        const n = Math.min(groups * 256, length - done);
        out.set(memory.subarray(CHACHA20_SIMD_OUTPUT, CHACHA20_SIMD_OUTPUT + n), offset + done);
        done += n;
        counter += groups * 4;
      }
    } finally {
      memory.fill(0, 0, CHACHA20_SIMD_OUTPUT + written); // SECURITY: the seed copy and the keystream
    }
  };
}

/** Inputs of the check against libsodium: a block counter and a length each. */
const CHECKS: readonly (readonly [number, number])[] = [
  [0, 0],
  [0, 1],
  [1, 64],
  [7, 255],
  [3, 1000],
  [2 ** 31 - 9, 1300],
  [12_345, CHACHA20_SIMD_MAX_GROUPS * 256 + 77], // across two calls of the module
];

/** True when `into` writes what `reference` computes, at every check, and leaves the rest of `out` alone. */
export function agreesWith(into: StreamInto, reference: ReferenceStream): boolean {
  const key = Uint8Array.from({ length: 32 }, (_, i) => (i * 29 + 7) & 0xff);
  const nonce = Uint8Array.from({ length: 12 }, (_, i) => (i * 53 + 1) & 0xff);
  for (const [block, length] of CHECKS) {
    const out = new Uint8Array(length + 6).fill(0xa5);
    into(key, nonce, block, out, 3, length);
    const expected = reference(key, nonce, block, length);
    if (!equalBytes(out.subarray(3, 3 + length), expected)) return false;
    if (out.subarray(0, 3).some((b) => b !== 0xa5) || out.subarray(3 + length).some((b) => b !== 0xa5)) return false;
  }
  return true;
}

/**
 * A fresh instance of the module, unchecked, with a view of its memory (tests look there for what
 * it left behind); undefined where the platform cannot compile it.
 */
export function simdModule(): { readonly into: StreamInto; readonly memory: Uint8Array } | undefined {
  const exports = instantiate();
  return exports === undefined
    ? undefined
    : { into: streamInto(exports), memory: new Uint8Array(exports.memory.buffer) };
}

/** The SIMD keystream where the platform compiles it and it agrees with `reference`; else undefined. */
export function simdChaCha20(reference: ReferenceStream): StreamInto | undefined {
  const into = simdModule()?.into;
  if (into === undefined) return undefined;
  try {
    return agreesWith(into, reference) ? into : undefined;
  } catch {
    return undefined;
  }
}
