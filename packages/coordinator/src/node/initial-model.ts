/**
 * Reads a training run's initial global model (`run.initial_model`, docs/learning.md §4) from a
 * file: raw little-endian float32 (`.f32`) or float64 (`.f64`), or else a global-model body
 * (protocol.md §3.10, what `GET /model` serves and `models.dir` holds). Problems name the file.
 */

import { readFile } from 'node:fs/promises';
import { decodeGlobalModel } from '@petfl/core';
import { SettingsError } from '../settings.ts';

export async function readInitialModel(path: string): Promise<Float64Array> {
  const problem = (what: string) => new SettingsError([`run.initial_model: ${path}: ${what}`]);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw problem(`cannot read (${(error as Error).message})`);
  }
  const raw = /\.(f32|f64)$/i.exec(path)?.[1]?.toLowerCase();
  let model: Float64Array;
  if (raw !== undefined) {
    const size = raw === 'f32' ? 4 : 8;
    if (bytes.length % size !== 0) throw problem(`expected a multiple of ${size} bytes, got ${bytes.length}`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    model = new Float64Array(bytes.length / size);
    for (let i = 0; i < model.length; i++) {
      model[i] = size === 4 ? view.getFloat32(i * 4, true) : view.getFloat64(i * 8, true);
    }
  } else {
    try {
      model = Float64Array.from(decodeGlobalModel(bytes).model);
    } catch (error) {
      throw problem(`not a global-model body, nor .f32/.f64 (${(error as Error).message})`);
    }
  }
  const bad = model.findIndex((value) => !Number.isFinite(value));
  if (bad >= 0) throw problem(`weight ${bad} is ${model[bad]}`);
  return model;
}
