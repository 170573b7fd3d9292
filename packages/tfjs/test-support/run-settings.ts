/**
 * The coordinator settings of the tfjs training-run tests (src/fl/run.e2e.test.ts,
 * src/privacy/dp-sgd.e2e.test.ts). No phase that waits for a participant's work races the
 * machine (docs/protocol.md §1.3):
 * - sum: one sum participant; a draw with none fails the round after 2 s and the next starts;
 * - update: ends as soon as 3 updates are in; when fewer participants drew the update task, it
 *   ends with what it has once 2 s have passed, so a loaded machine's slower training costs
 *   updates in a round, never the round; only a round with no update at all fails (after 30 s);
 * - sum2: the sum participant's mask, however long deriving it takes (30 s).
 */
export function runSettingsToml(options: { adminToken: string; modelLength: number; run: string }): string {
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
time = { min_ms = 2000, max_ms = 30000 }
[pet.sum2]
count = { min = 1, max = 1 }
time = { min_ms = 0, max_ms = 30000 }
[model]
length = ${options.modelLength}
[run]
enabled = true
${options.run}
`;
}
