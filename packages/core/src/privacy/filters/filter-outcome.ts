/**
 * What one privacy filter did to an update: how many coordinates it left to be shared and the
 * differential privacy it gives, if any. Plain data, for logs and a participant's own records.
 */

export interface FilterOutcome {
  readonly kind: 'laplace' | 'percentile' | 'svt';
  /** Coordinates the filter released (the others it set to 0). */
  readonly shared: number;
  /**
   * ε of the guarantee for the whole update: the filter's output is ε-DP between *any* two
   * updates (local DP, after the filter's own clip). null when the filter gives none.
   */
  readonly epsilon: number | null;
  /**
   * ε between two updates that differ in one coordinate only (within the clip); null when the
   * filter gives none.
   */
  readonly coordinateEpsilon: number | null;
}
