/**
 * The participant page's models and their sizes: the coordinator's `model.length`
 * must equal the weight count of the model the page trains (`model=` on the
 * participant page, default `demo`). The demo's layers are read from the app's own
 * definition (apps/web/src/demo.ts is DOM- and Node-free on purpose); `wide` mirrors
 * the page's MODELS (apps/web/src/params.ts, outside this project's files), and the
 * benchmark checks the weight count each page shows against it.
 */

import { denseWeightCount, LAYERS } from '../../apps/web/src/demo.ts';

/** The page's `model=` choices, as apps/web/src/params.ts's MODELS. */
const MODELS = {
  demo: LAYERS,
  wide: [784, 1260, 10],
} as const satisfies Record<string, readonly number[]>;

export type WebModel = keyof typeof MODELS;
export const WEB_MODELS = Object.keys(MODELS) as WebModel[];

/** The coordinator's `model.length` for the page model `model` (default: the demo's). */
export function webModelLength(model: WebModel = 'demo'): number {
  return denseWeightCount(MODELS[model]);
}

/** The page model's layer sizes, input first. */
export function webModelLayers(model: WebModel = 'demo'): readonly number[] {
  return MODELS[model];
}
