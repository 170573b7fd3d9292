/**
 * The coordinator settings of the tfjs tests that run rounds with 4 TfjsParticipants
 * (src/e2e.test.ts, src/fl/run.e2e.test.ts; src/privacy/dp-sgd.e2e.test.ts adds a fifth that
 * sits out). No phase that
 * waits for a participant's work races the machine (docs/protocol.md §1.3):
 * - sum: one sum participant; a draw with none fails the round after 2 s and the next starts;
 * - update: ends as soon as 3 updates are in — all of them when one of 4 participants drew sum,
 *   however long training takes. When two or more drew sum, fewer than 3 can come: it then ends
 *   with what it has once 5 s have passed. Only a round with no update at all fails (after 30 s).
 *   An update that misses a round that completed is refused, and SCAFFOLD's cᵢ stays where it was
 *   (docs/learning.md §3.2); the wait is long enough for a loaded machine's training;
 * - sum2: the sum participant's mask, however long deriving it takes (30 s).
 */
export const PARTICIPANTS = 4;

export function runSettingsToml(options: {
  adminToken: string;
  modelLength: number;
  /** `[run]` settings; without them, no training run. */
  run?: string;
}): string {
  return `
[api]
port = 0
admin_token = "${options.adminToken}"
[safety]
allow_unsafe_small_rounds = true
scalar_min = 0
[pet.sum]
probability = 0.25
count = { min = 1, max = 1 }
time = { min_ms = 0, max_ms = 2000 }
[pet.update]
probability = 1
count = { min = 1, max = 3 }
time = { min_ms = 5000, max_ms = 30000 }
[pet.sum2]
count = { min = 1, max = 1 }
time = { min_ms = 0, max_ms = 30000 }
[model]
length = ${options.modelLength}
${options.run === undefined ? '' : `[run]\nenabled = true\n${options.run}\n`}`;
}
