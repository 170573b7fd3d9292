/**
 * The coordinator settings of the tfjs training-run tests (src/fl/run.e2e.test.ts,
 * src/privacy/dp-sgd.e2e.test.ts): 1 sum and 3 update participants complete a round. The update
 * phase ends as soon as 3 updates are in; its 6 s limit only keeps a loaded machine's slower
 * training from failing rounds (docs/learning.md §3.2: a failed round sets its updates aside).
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
time = { min_ms = 0, max_ms = 500 }
[pet.update]
probability = 1
count = { min = 3, max = 3 }
time = { min_ms = 0, max_ms = 6000 }
[pet.sum2]
count = { min = 1, max = 1 }
time = { min_ms = 0, max_ms = 2000 }
[model]
length = ${options.modelLength}
[run]
enabled = true
${options.run}
`;
}
