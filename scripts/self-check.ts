/**
 * `npm start` for now: a self-check of @petfl/core on this machine. It runs a
 * complete PET aggregation in process (keys, eligibility, masking, sealing,
 * aggregation, mask derivation, unmasking) and prints what it did. Later
 * issues make `npm start` launch the coordinator and the demo.
 */

import {
  Aggregation,
  configName,
  deriveMask,
  initCrypto,
  type MaskConfig,
  Masker,
  maskOrder,
  selectTask,
} from '../packages/core/src/index.ts';
import { fixtureModel, weightedAverage } from '../packages/core/src/testing/index.ts';

const config: MaskConfig = { group: 'power2', data: 'f32', bound: 'b2', model: 'm3' };
const participants = 5;
const length = 100_000;

const crypto = await initCrypto();
const roundSeed = crypto.randomBytes(32);
const t0 = performance.now();

const tasks = { sum: 0, update: 0, none: 0 };
for (let i = 0; i < 100; i++) {
  const { secretKey } = crypto.signingKeyPair();
  tasks[selectTask(crypto, roundSeed, secretKey, { sum: 0.2, update: 0.5 }).task] += 1;
}

const masker = new Masker(crypto, config);
const aggregate = new Aggregation(config, length);
const maskSum = new Aggregation(config, length);
const models: Float32Array[] = [];
const scalars: number[] = [];
for (let i = 0; i < participants; i++) {
  const model = fixtureModel(length, i);
  const scalar = (i + 1) / participants;
  const { seed, masked } = masker.mask(model, scalar);
  models.push(model);
  scalars.push(scalar);
  aggregate.aggregate(masked);
  maskSum.aggregate(deriveMask(crypto, config, seed, length));
  crypto.wipe(seed);
}
const global = aggregate.unmask(maskSum.toMaskObject());
const expected = weightedAverage(models, scalars);
let maxError = 0;
for (let i = 0; i < length; i++)
  maxError = Math.max(maxError, Math.abs((global[i] as number) - (expected[i] as number)));
const ms = performance.now() - t0;

console.log(`petfl core self-check
  crypto: libsodium ready (Ed25519, X25519 sealed boxes, SHA-256, ChaCha20)
  eligibility: 100 keys at p(sum)=0.2, p(update)=0.5 -> ${tasks.sum} sum, ${tasks.update} update, ${tasks.none} none
  mask config: ${configName(config)}, group order ${maskOrder(config)}
  aggregated ${participants} masked models of ${length} weights; unmasked the scalar-weighted average
  max |global - reference| = ${maxError.toExponential(2)} (precision bound N/E = ${(participants / 1e10).toExponential(2)})
  done in ${ms.toFixed(0)} ms`);

if (!(maxError <= 1e-6)) {
  console.error('self-check FAILED: the unmasked model does not match the weighted average');
  process.exit(1);
}
