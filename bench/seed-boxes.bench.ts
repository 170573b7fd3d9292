/**
 * An update's local seed dictionary: its 32-byte mask seed sealed to each sum participant's
 * ephemeral key, and a sum participant opening one such box (protocol.md §3.8).
 *
 * - `sealEachMs` (the floor, and what the SDK did before ADR 0016): one `crypto_box_seal` per key,
 *   each drawing its own ephemeral key pair;
 * - `sealToEachMs`: `PetCrypto.sealToEach`, one ephemeral key pair for all the boxes (ADR 0016);
 * - `openOneBoxUs`: `openSealed` of one box.
 * With `initCrypto()` as Node.js gets it (X25519 by node:crypto, ADR 0013) and with libsodium
 * alone, as browsers and React Native run it; for 3, 20 and 100 recipients. Each figure is the
 * median of 25 runs after a warm-up, all in this process.
 *
 *   npm run bench:seeds   → bench/results/seed-boxes.json
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { initCrypto, type PetCrypto } from '../packages/core/src/index.ts';

const RESULTS = 'bench/results/seed-boxes.json';
const REPS = 25;
const RECIPIENTS = [3, 20, 100];

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const r3 = (x: number) => Number(x.toPrecision(3));

/** Median milliseconds of `fn` over REPS runs after five warm-ups. */
function time(fn: () => void): number {
  for (let i = 0; i < 5; i++) fn();
  const xs: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const t = performance.now();
    fn();
    xs.push(performance.now() - t);
  }
  return median(xs);
}

function measure(crypto: PetCrypto) {
  const seed = crypto.randomBytes(32);
  const bySize = RECIPIENTS.map((recipients) => {
    const keys = Array.from({ length: recipients }, () => crypto.encryptKeyPair());
    const publicKeys = keys.map((pair) => pair.publicKey);
    const sealEachMs = time(() => {
      for (const publicKey of publicKeys) crypto.seal(seed, publicKey);
    });
    const sealToEachMs = time(() => crypto.sealToEach(seed, publicKeys));
    return {
      recipients,
      sealEachMs: r3(sealEachMs),
      sealToEachMs: r3(sealToEachMs),
      ratioSealToEachToSealEach: r3(sealToEachMs / sealEachMs),
      perBoxUs: { sealEach: r3((sealEachMs / recipients) * 1000), sealToEach: r3((sealToEachMs / recipients) * 1000) },
    };
  });
  const pair = crypto.encryptKeyPair();
  const box = crypto.seal(seed, pair.publicKey);
  const OPENS = 100;
  const openMs = time(() => {
    for (let i = 0; i < OPENS; i++) crypto.openSealed(box, pair);
  });
  return { bySize, openOneBoxUs: r3((openMs / OPENS) * 1000) };
}

const results = {
  date: new Date().toISOString(),
  machine: { node: process.version, cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, loadavg: loadavg() },
  repetitions: REPS,
  native: measure(await initCrypto()),
  libsodium: measure(await initCrypto({ native: false })),
};
mkdirSync('bench/results', { recursive: true });
writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
console.log(`\nwritten to ${RESULTS}`);
