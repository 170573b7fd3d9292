/**
 * The mask object (protocol.md §4.4): a masked (or mask, or aggregated)
 * vector of group elements plus one masked scalar, under one config.
 * Its wire codec lives in message/mask-object.ts.
 */

import type { MaskConfig } from './config.ts';
import type { Elements } from './group.ts';

export interface MaskObject {
  readonly config: MaskConfig;
  /** Number of model weights. */
  readonly length: number;
  /** `length` elements (see group.ts for the two layouts). */
  readonly vector: Elements;
  /** One element: the (masked) scalar. */
  readonly scalar: Elements;
}
