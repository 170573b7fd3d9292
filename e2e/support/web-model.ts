/**
 * The participant page's model size, read from the demo's own definition
 * (apps/web/src/demo.ts is DOM- and Node-free on purpose): the coordinator's
 * `model.length` must equal the page model's weight count.
 */

import { MODEL_LENGTH } from '../../apps/web/src/demo.ts';

export function webModelLength(): number {
  return MODEL_LENGTH;
}
