/**
 * The participant page's models and their sizes: the coordinator's `model.length`
 * must equal the weight count of the model the page trains (`model=` on the
 * participant page, default `demo`). Read from the app's own list, PAGE_MODELS in
 * apps/web/src/demo.ts (DOM- and Node-free on purpose); the benchmark also checks the
 * weight count each page shows against it.
 */

import { denseWeightCount, PAGE_MODELS } from '../../apps/web/src/demo.ts';

export type WebModel = keyof typeof PAGE_MODELS;
export const WEB_MODELS = Object.keys(PAGE_MODELS) as WebModel[];

/** The coordinator's `model.length` for the page model `model` (default: the demo's). */
export function webModelLength(model: WebModel = 'demo'): number {
  return denseWeightCount(PAGE_MODELS[model]);
}

/** The page model's layer sizes, input first. */
export function webModelLayers(model: WebModel = 'demo'): readonly number[] {
  return PAGE_MODELS[model];
}
