/**
 * The WebAssembly source of the mask keystream's four-block SIMD ChaCha20 (docs/architecture.md
 * §7.6; protocol.md §5.2), and the generator of packages/core/src/crypto/chacha20-simd-module.ts,
 * which holds its binary:
 *
 *   node scripts/chacha20-simd.mjs            # rewrites chacha20-simd-module.ts from this file
 *
 * The module computes RFC 8439's ChaCha20 block function (IETF: 32-bit block counter, 96-bit nonce)
 * four blocks at a time, each 32-bit word of the state in one lane of a v128 per block. Memory
 * (exported): the key at 0..32, the nonce at 32..44, the output from 256. `stream(counter, groups)`
 * writes `groups` × 256 bytes of keystream, the blocks `counter`, `counter` + 1, … (the counter
 * wraps modulo 2³² like RFC 8439's; callers stay below 2³¹ blocks). It keeps nothing between calls:
 * the caller wipes what it wrote. `wabt` (a devDependency, never a runtime one) assembles the text;
 * chacha20-simd.test.ts checks that the committed binary is what this file assembles to.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Pages of 64 KiB: 256 bytes of key and nonce, then 1 MiB of output (4,096 groups). */
export const PAGES = 17;
export const OUTPUT_OFFSET = 256;
export const MAX_GROUPS = (PAGES * 65536 - OUTPUT_OFFSET) / 256;

const ROUNDS = [
  [0, 4, 8, 12],
  [1, 5, 9, 13],
  [2, 6, 10, 14],
  [3, 7, 11, 15],
  [0, 5, 10, 15],
  [1, 6, 11, 12],
  [2, 7, 8, 13],
  [3, 4, 9, 14],
];

/** One quarter round (RFC 8439 §2.1) on four v128 locals. */
function quarterRound(a, b, c, d) {
  const out = [];
  const add = (x, y) => out.push(`(local.set $x${x} (i32x4.add (local.get $x${x}) (local.get $x${y})))`);
  const xorRotate = (x, y, n) => {
    const v = `(v128.xor (local.get $x${x}) (local.get $x${y}))`;
    // Rotations by whole bytes are byte shuffles within each 32-bit lane (little-endian).
    const e =
      n === 16
        ? `(i8x16.shuffle 2 3 0 1 6 7 4 5 10 11 8 9 14 15 12 13 ${v} ${v})`
        : n === 8
          ? `(i8x16.shuffle 3 0 1 2 7 4 5 6 11 8 9 10 15 12 13 14 ${v} ${v})`
          : `(v128.or (i32x4.shl ${v} (i32.const ${n})) (i32x4.shr_u ${v} (i32.const ${32 - n})))`;
    out.push(`(local.set $x${x} ${e})`);
  };
  add(a, b);
  xorRotate(d, a, 16);
  add(c, d);
  xorRotate(b, c, 12);
  add(a, b);
  xorRotate(d, a, 8);
  add(c, d);
  xorRotate(b, c, 7);
  return out;
}

/** The module's text. */
export function chacha20SimdWat() {
  const lines = [];
  const line = (text) => {
    lines.push(text);
  };
  line('(module');
  line(`  (memory (export "memory") ${PAGES})`);
  line('  (func (export "stream") (param $counter i32) (param $groups i32)');
  for (let i = 0; i < 16; i++) line(`    (local $x${i} v128) (local $i${i} v128)`);
  line('    (local $out i32) (local $r i32)');
  line(`    (local.set $out (i32.const ${OUTPUT_OFFSET}))`);
  const constants = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574];
  for (const [i, c] of constants.entries()) line(`    (local.set $i${i} (i32x4.splat (i32.const ${c})))`);
  for (let k = 0; k < 8; k++) line(`    (local.set $i${4 + k} (i32x4.splat (i32.load offset=${4 * k} (i32.const 0))))`);
  for (let k = 0; k < 3; k++)
    line(`    (local.set $i${13 + k} (i32x4.splat (i32.load offset=${32 + 4 * k} (i32.const 0))))`);
  line('    (block $done (loop $group');
  line('      (br_if $done (i32.eqz (local.get $groups)))');
  line('      (local.set $i12 (i32x4.add (i32x4.splat (local.get $counter)) (v128.const i32x4 0 1 2 3)))');
  for (let i = 0; i < 16; i++) line(`      (local.set $x${i} (local.get $i${i}))`);
  line('      (local.set $r (i32.const 10))');
  line('      (loop $rounds');
  for (const [a, b, c, d] of ROUNDS) for (const step of quarterRound(a, b, c, d)) line(`        ${step}`);
  line('        (local.set $r (i32.sub (local.get $r) (i32.const 1)))');
  line('        (br_if $rounds (local.get $r)))');
  for (let i = 0; i < 16; i++) line(`      (local.set $x${i} (i32x4.add (local.get $x${i}) (local.get $i${i})))`);
  // Lane j of $x0..$x15 is block j's words 0..15: each group of four words is transposed (a 4 × 4
  // transpose of 32-bit lanes) and stored at block j's bytes 16g..16g + 16.
  const low = '0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23';
  const high = '8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31';
  for (let g = 0; g < 4; g++) {
    const [a, b, c, d] = [0, 1, 2, 3].map((k) => `(local.get $x${4 * g + k})`);
    const t0 = `(i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 ${a} ${b})`;
    const t1 = `(i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 ${c} ${d})`;
    const t2 = `(i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 ${a} ${b})`;
    const t3 = `(i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 ${c} ${d})`;
    const blocks = [
      [t0, t1, low],
      [t0, t1, high],
      [t2, t3, low],
      [t2, t3, high],
    ];
    for (const [j, [x, y, lanes]] of blocks.entries()) {
      line(`      (v128.store offset=${64 * j + 16 * g} (local.get $out) (i8x16.shuffle ${lanes} ${x} ${y}))`);
    }
  }
  line('      (local.set $out (i32.add (local.get $out) (i32.const 256)))');
  line('      (local.set $counter (i32.add (local.get $counter) (i32.const 4)))');
  line('      (local.set $groups (i32.sub (local.get $groups) (i32.const 1)))');
  line('      (br $group)))');
  line('  )');
  line(')');
  return `${lines.join('\n')}\n`;
}

/** The module's binary, assembled by wabt. */
export async function chacha20SimdBinary() {
  const { default: wabtInit } = await import('wabt');
  const wabt = await wabtInit();
  const module = wabt.parseWat('chacha20-simd.wat', chacha20SimdWat(), { simd: true });
  try {
    return new Uint8Array(module.toBinary({}).buffer);
  } finally {
    module.destroy();
  }
}

export const MODULE_FILE = join(
  dirname(fileURLToPath(import.meta.url)),
  '../packages/core/src/crypto/chacha20-simd-module.ts',
);

/** The TypeScript file that carries the binary. */
export function moduleSource(binary) {
  return `/**
 * The binary of the mask keystream's four-block SIMD ChaCha20 (chacha20-simd.ts), as base64url.
 * Generated by \`node scripts/chacha20-simd.mjs\` from the WebAssembly text there; do not edit.
 */

export const CHACHA20_SIMD_PAGES = ${PAGES};
export const CHACHA20_SIMD_OUTPUT = ${OUTPUT_OFFSET};
export const CHACHA20_SIMD_MAX_GROUPS = ${MAX_GROUPS};
export const CHACHA20_SIMD_WASM =
  '${Buffer.from(binary).toString('base64url')}';
`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const source = moduleSource(await chacha20SimdBinary());
  const before = (() => {
    try {
      return readFileSync(MODULE_FILE, 'utf8');
    } catch {
      return '';
    }
  })();
  writeFileSync(MODULE_FILE, source);
  process.stdout.write(`${before === source ? 'unchanged' : 'written'}: ${MODULE_FILE}\n`);
}
