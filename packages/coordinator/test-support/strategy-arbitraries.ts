/**
 * fast-check arbitraries shared by the server strategies' property tests (src/run/strategy/):
 * finite float64 vectors, and a global model with the average updates of consecutive rounds.
 */

import fc from 'fast-check';

/** A finite float64 vector of n entries in [−bound, bound]. */
export const vector = (n: number, bound = 100) =>
  fc.float64Array({ minLength: n, maxLength: n, min: -bound, max: bound, noNaN: true, noDefaultInfinity: true });

/** A global model (0..12 weights) and the average updates of 1..maxRounds consecutive rounds. */
export const rounds = (maxRounds: number, bound = 100) =>
  fc
    .integer({ min: 0, max: 12 })
    .chain((n) => fc.tuple(vector(n, bound), fc.array(vector(n, bound), { minLength: 1, maxLength: maxRounds })));
