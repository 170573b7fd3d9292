/**
 * Test-only reference implementations, written from the spec and never from the code under
 * test: ChaCha20 (RFC 8439), the mask keystream (nonce "LibsodiumDRG", block 0 on), the
 * reference order table and the spec's A, U, E, N per config. Shared by the crypto and mask
 * suites; excluded from the published package (tsconfig.json), type-checked with the tests.
 */

import { readFileSync } from 'node:fs';
import { PetError } from '../src/errors.ts';
import type { MaskConfig } from '../src/mask/config.ts';

// --- ChaCha20, RFC 8439 §2.1–2.4 ----------------------------------------------------------------

const rotl = (v: number, n: number): number => (v << n) | (v >>> (32 - n));

/** The ChaCha quarter round on four words of `x` (RFC 8439 §2.1). */
export function quarterRound(x: Uint32Array, a: number, b: number, c: number, d: number): void {
  const at = (i: number): number => x[i] as number;
  x[a] = at(a) + at(b);
  x[d] = rotl(at(d) ^ at(a), 16);
  x[c] = at(c) + at(d);
  x[b] = rotl(at(b) ^ at(c), 12);
  x[a] = at(a) + at(b);
  x[d] = rotl(at(d) ^ at(a), 8);
  x[c] = at(c) + at(d);
  x[b] = rotl(at(b) ^ at(c), 7);
}

/** One 64-byte ChaCha20 block (RFC 8439 §2.3). */
export function chacha20Block(key: Uint8Array, counter: number, nonce: Uint8Array): Uint8Array {
  const word = (bytes: Uint8Array, i: number): number =>
    new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4 * i, true);
  const state = new Uint32Array(16);
  state.set([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);
  for (let i = 0; i < 8; i++) state[4 + i] = word(key, i);
  state[12] = counter;
  for (let i = 0; i < 3; i++) state[13 + i] = word(nonce, i);
  const x = state.slice();
  for (let round = 0; round < 10; round++) {
    quarterRound(x, 0, 4, 8, 12);
    quarterRound(x, 1, 5, 9, 13);
    quarterRound(x, 2, 6, 10, 14);
    quarterRound(x, 3, 7, 11, 15);
    quarterRound(x, 0, 5, 10, 15);
    quarterRound(x, 1, 6, 11, 12);
    quarterRound(x, 2, 7, 8, 13);
    quarterRound(x, 3, 4, 9, 14);
  }
  const out = new Uint8Array(64);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 16; i++) view.setUint32(4 * i, ((x[i] as number) + (state[i] as number)) >>> 0, true);
  return out;
}

/** `length` keystream bytes from block `counter` on. */
export function chacha20Stream(key: Uint8Array, nonce: Uint8Array, counter: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let block = 0; 64 * block < length; block++) {
    const bytes = chacha20Block(key, counter + block, nonce);
    out.set(bytes.subarray(0, Math.min(64, length - 64 * block)), 64 * block);
  }
  return out;
}

/** The mask keystream's nonce (protocol.md §5.2). */
export const LIBSODIUM_DRG = new Uint8Array(Buffer.from('LibsodiumDRG', 'ascii'));

/** The mask keystream of a seed, block by block, read strictly in order. */
export class ReferenceStream {
  private block = 0;
  private buffer: Uint8Array = new Uint8Array(0);
  private offset = 0;
  private readonly seed: Uint8Array;

  constructor(seed: Uint8Array) {
    this.seed = seed;
  }

  take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      if (this.offset === this.buffer.length) {
        this.buffer = chacha20Block(this.seed, this.block++, LIBSODIUM_DRG);
        this.offset = 0;
      }
      out[i] = this.buffer[this.offset++] as number;
    }
    return out;
  }
}

// --- the reference order table and the spec's parameters ---------------------------------------

export interface OrderRow {
  group: string;
  data: string;
  bound: string;
  model: string;
  order: string;
}

/** test-data/mask-orders.json: a copy of the shared reference (CI runs on a bare clone). */
export const ORDER_ROWS = JSON.parse(
  readFileSync(new URL('../test-data/mask-orders.json', import.meta.url), 'utf8'),
) as OrderRow[];

/** A table row's config in the code's spelling (`Integer` → `integer`, …). */
export const rowConfig = (row: OrderRow): MaskConfig =>
  ({
    group: row.group.toLowerCase(),
    data: row.data.toLowerCase(),
    bound: row.bound.toLowerCase(),
    model: row.model.toLowerCase(),
  }) as MaskConfig;

export const configKey = (c: MaskConfig): string => `${c.group}/${c.data}/${c.bound}/${c.model}`;

/** `group/data/bound/model` → config. */
export const cfg = (text: string): MaskConfig => {
  const [group, data, bound, model] = text.split('/');
  return { group, data, bound, model } as MaskConfig;
};

/** All 240 configs, in table order. */
export const REFERENCE_CONFIGS: MaskConfig[] = ORDER_ROWS.map(rowConfig);
const ORDERS = new Map(ORDER_ROWS.map((r, i) => [configKey(REFERENCE_CONFIGS[i] as MaskConfig), BigInt(r.order)]));

export const bitLength = (n: bigint): number => (n === 0n ? 0 : n.toString(2).length);

export interface Reference {
  order: bigint;
  /** bitLength(order − 1). */
  bits: number;
  bytesPerNumber: number;
  /** A: lower clamp bound −A and add shift. */
  a: bigint;
  /** U: upper clamp bound (A − 1 for the two's-complement types under bmax). */
  u: bigint;
  e: bigint;
  /** N: the model cap. */
  cap: bigint;
}

/** The spec's parameters of a config; the order comes from the reference table. */
export function reference(c: MaskConfig): Reference {
  const order = ORDERS.get(configKey(c));
  if (order === undefined) throw new Error(`no reference order for ${configKey(c)}`);
  const bmaxA = {
    f32: 340282350000000000000000000000000000000n,
    f64: 17976931348623155n * 10n ** 292n,
    i32: 2n ** 31n,
    i64: 2n ** 63n,
  };
  const a = c.bound === 'bmax' ? bmaxA[c.data] : 10n ** BigInt(c.bound.slice(1));
  const u = c.bound === 'bmax' && (c.data === 'i32' || c.data === 'i64') ? a - 1n : a;
  const e =
    c.data === 'f64'
      ? 10n ** (c.bound === 'bmax' ? 324n : 20n)
      : c.data === 'f32' && c.bound === 'bmax'
        ? 10n ** 45n
        : 10n ** 10n;
  const bits = bitLength(order - 1n);
  return { order, bits, bytesPerNumber: Math.ceil(bits / 8), a, u, e, cap: 10n ** BigInt(c.model.slice(1)) };
}

/** The PetError code `f` throws, a marker if it throws something else, undefined if it does not. */
export const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (error) {
    return error instanceof PetError ? error.code : `not a PetError: ${String(error)}`;
  }
  return undefined;
};
