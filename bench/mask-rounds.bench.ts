/**
 * Masking as a participant process does it: once a round, with the rest of the round in between
 * (docs/architecture.md §7.6). `bench:core` masks back to back, so its code is always warm; a
 * participant masks one model per round, and between two rounds its heap is collected. Here, in
 * one fresh process per backend, each "round" is a full GC and 500 ms idle, then one masked
 * update of 1,000,000 weights encoded as the SDK's update step encodes it (`encodeMaskedUpdate`,
 * power2/f32/b2/m3 and b4) and one Sum2 step (`Aggregation.aggregateDerived` of one seed). The
 * floor, measured in the same process afterwards: the same operations back to back, warm
 * (median of 7 after 3).
 *
 *   npm run bench:mask-rounds   → bench/results/mask-rounds.json (entry BENCH_LABEL, default 'after')
 */

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  Aggregation,
  configName,
  encodeMaskedUpdate,
  initCrypto,
  type MaskConfig,
  Masker,
  SEED_BYTES,
} from '../packages/core/src/index.ts';
import { fixtureModel } from '../packages/core/src/testing/index.ts';

const RESULTS = 'bench/results/mask-rounds.json';
const WEIGHTS = 1_000_000;
const ROUNDS = 8;
const IDLE_MS = 500;
const CONFIGS: MaskConfig[] = [
  { group: 'power2', data: 'f32', bound: 'b2', model: 'm3' },
  { group: 'power2', data: 'f32', bound: 'b4', model: 'm3' },
];

type Backend = 'native' | 'libsodium';

interface Measured {
  readonly backend: Backend;
  readonly config: string;
  readonly maskMsPerRound: number[];
  readonly sum2MsPerRound: number[];
  readonly maskWarmMs: number;
  readonly sum2WarmMs: number;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const r1 = (x: number) => Math.round(x * 10) / 10;

/** One backend, in this (fresh) process. */
async function measure(backend: Backend): Promise<Measured[]> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const crypto = await initCrypto({ native: backend === 'native' });
  const model = fixtureModel(WEIGHTS, 1);
  const fields = { sumSignature: new Uint8Array(64), updateSignature: new Uint8Array(64), localSeedDict: new Map() };
  const ops = CONFIGS.map((config) => {
    const masker = new Masker(crypto, config);
    return {
      config,
      mask: () => encodeMaskedUpdate(masker, fields, model, 1, crypto.randomBytes(SEED_BYTES)),
      sum2: () => new Aggregation(config, WEIGHTS).aggregateDerived(crypto, crypto.randomBytes(SEED_BYTES)),
    };
  });
  const timed = (fn: () => unknown) => {
    const t = performance.now();
    fn();
    return performance.now() - t;
  };
  const perRound = ops.map(() => ({ mask: [] as number[], sum2: [] as number[] }));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, op] of ops.entries()) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
      perRound[i]?.mask.push(timed(op.mask));
      gc();
      await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
      perRound[i]?.sum2.push(timed(op.sum2));
    }
  }
  return ops.map((op, i) => {
    const warm = (fn: () => unknown) => {
      for (let k = 0; k < 3; k++) fn();
      return median(Array.from({ length: 7 }, () => timed(fn)));
    };
    return {
      backend,
      config: configName(op.config),
      maskMsPerRound: (perRound[i]?.mask ?? []).map(r1),
      sum2MsPerRound: (perRound[i]?.sum2 ?? []).map(r1),
      maskWarmMs: r1(warm(op.mask)),
      sum2WarmMs: r1(warm(op.sum2)),
    };
  });
}

if (process.argv[2] === 'child') {
  process.stdout.write(JSON.stringify(await measure(process.argv[3] as Backend)));
} else {
  const label = process.env['BENCH_LABEL'] ?? 'after';
  const load = loadavg()[0];
  const measured = (['native', 'libsodium'] as const).flatMap(
    (backend) =>
      JSON.parse(
        execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'child', backend], {
          encoding: 'utf8',
          maxBuffer: 1 << 20,
        }),
      ) as Measured[],
  );
  const entry = {
    date: new Date().toISOString(),
    machine: {
      node: process.version,
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      loadAverage1m: { atStart: load, atEnd: loadavg()[0] },
    },
    what: `${WEIGHTS} weights; per backend one fresh process; ${ROUNDS} rounds, each a full GC and ${IDLE_MS} ms idle before each operation; medians of rounds 2–${ROUNDS} (round 1 is the process's first), and of 7 warm runs back to back after 3`,
    results: measured.map((m) => {
      const later = (xs: number[]) => median(xs.slice(1));
      return {
        ...m,
        maskMedianMs: later(m.maskMsPerRound),
        sum2MedianMs: later(m.sum2MsPerRound),
        maskRatioToWarm: Math.round((later(m.maskMsPerRound) / m.maskWarmMs) * 100) / 100,
        sum2RatioToWarm: Math.round((later(m.sum2MsPerRound) / m.sum2WarmMs) * 100) / 100,
      };
    }),
  };
  const all = existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, unknown>) : {};
  all[label] = entry;
  writeFileSync(RESULTS, `${JSON.stringify(all, null, 2)}\n`);
  for (const r of entry.results) {
    console.log(
      `${r.backend} ${r.config}: mask ${r.maskMedianMs} ms a round (warm ${r.maskWarmMs}, ×${r.maskRatioToWarm}); ` +
        `sum2 ${r.sum2MedianMs} ms (warm ${r.sum2WarmMs}, ×${r.sum2RatioToWarm})`,
    );
  }
  console.log(`wrote ${RESULTS} (${label})`);
}
