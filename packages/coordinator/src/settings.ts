/**
 * Coordinator settings: one typed object, parsed and
 * validated once at the entry point from a TOML file plus `PETFL_*`
 * environment variables, every default in one place, every invalid field
 * listed in one error.
 *
 * The settings are described once, as Valibot schemas (settings/schema.ts),
 * and their types are inferred from them. Environment variables name a
 * setting by its path, upper-cased and joined with `_`: `api.port` →
 * `PETFL_API_PORT`, `pet.sum.count.min` → `PETFL_PET_SUM_COUNT_MIN`,
 * `store.redis_url` → `PETFL_STORE_REDIS_URL`. Lists are comma-separated. The
 * environment wins over the file (settings/env.ts).
 */

import type { MaskConfig } from '@petfl/core';
import { parse as parseToml } from 'smol-toml';
import * as v from 'valibot';
import { CoordinatorError } from './errors.ts';
import { applyEnv } from './settings/env.ts';
import { problemLines } from './settings/problems.ts';
import {
  isDistributedMechanism,
  maskSchema,
  petSchema,
  type Settings,
  type SettingsContext,
  settingsSchema,
} from './settings/schema.ts';
import { getPath, isTree, merge, type Tree } from './settings/tree.ts';

export { envName } from './settings/env.ts';
export {
  type AdmissionSettings,
  type PhaseCount,
  type PhaseSettings,
  type PhaseTime,
  SAFE_MIN_COUNT,
  type Settings,
} from './settings/schema.ts';

/** Every default, in one place: a local demo works with no file and no environment. */
export const DEFAULT_SETTINGS_TOML = `
[api]
port = 8081
admin_token = "change-me"
metrics_token = ""
cors_origins = ["http://localhost:5173"]
max_body_bytes = 16777216
max_bodies_in_flight = 8
# POST /message requests that wait (bodies unread, up to 1 s) for one of those slots before 503 busy.
max_bodies_waiting = 1000
# Worker threads that decrypt, verify and decode messages (Node); 0 = in the coordinator's own
# thread; "auto" = one fewer than the cores, at most max_bodies_in_flight (docs/operations.md).
ingest_workers = "auto"
# V8's old-generation growing factor, in percent above the live heap, that the petfl-coordinator
# command sets (Node); 0 = V8's own choice. A coordinator's heap is small and its young generation
# large: with V8's own choice it ran about ten full collections a round (docs/operations.md).
heap_growing_percent = 200
max_phase_waiters = 2000
headers_timeout_ms = 10000
request_timeout_ms = 120000
# An idle keep-alive connection stays open this long (Node's own default is 5 s). Participants
# poll every few seconds, with a long poll in flight beside: at 5 s their second connection closed
# between polls and a new one was opened for the next (docs/operations.md).
keep_alive_timeout_ms = 65000
max_connections = 10000
admin_failures_per_minute = 10

[admission]
kind = "open"
open_on_public_host = false
jwks_url = ""
jwt_public_key = ""
jwt_issuer = ""
jwt_audience = ""
max_identities_per_subject = 1
allowlist = []

[limits]
messages_per_minute_per_subject = 1200
messages_per_minute_per_ip = 12000
phase_polls_per_minute_per_ip = 6000
chunk_bytes_per_participant = 16777216
chunk_bytes_total = 268435456

[safety]
allow_unsafe_small_rounds = false
scalar_min = 0.01
scalar_max = 100

[pet.sum]
probability = 0.5
count = { min = 3, max = 100 }
time = { min_ms = 5000, max_ms = 60000 }

[pet.update]
probability = 0.9
count = { min = 3, max = 1000 }
time = { min_ms = 5000, max_ms = 60000 }

[pet.sum2]
count = { min = 3, max = 100 }
time = { min_ms = 1000, max_ms = 60000 }

[mask]
group = "power2"
data = "f32"
bound = "b2"
model = "m3"

[model]
length = 10000

[store]
kind = "memory"
redis_url = "redis://127.0.0.1:6379"
# Prefix of every Redis key (the store's, and the rate-limit counts' under "<key_prefix>:rate"):
# one per coordinator deployment; every instance of one deployment uses the same.
key_prefix = "petfl"

[models]
dir = "./data/models"

# Several coordinator instances on one Redis store (docs/operations.md, ADR 0008).
[cluster]
# This instance's name in the store's update logs; "" = a random one per start.
instance = ""
# The leader (which ends phases and unmasks) renews its lease every lease_ms / 3; another
# instance takes over within lease_ms of its end.
lease_ms = 5000
# Updates an instance takes between checkpoints of its partial aggregate (the store trims its log).
checkpoint_every = 8

# A training run (docs/learning.md): participants send updates, a server strategy makes the next
# global model, metrics are evaluated under the same masking. Off: each round's model is the
# plain scalar-weighted average of the participants' models, as without a run.
[run]
enabled = false
# Completed rounds after which the run ends (the coordinator pauses); 0 = no limit.
rounds = 0
# "update": participants send local model − global model; "model": their local model.
send = "update"
# fedavg, fedavgm, fedadagrad, fedadam or fedyogi (docs/learning.md §3).
strategy = "fedavg"
# The strategy's hyper-parameters; "default" = the strategy's own default.
server_learning_rate = "default"
server_momentum = "default"
beta_1 = "default"
beta_2 = "default"
tau = "default"
# SCAFFOLD: participants send their control-variate delta in the same masked vector.
control_variates = false
# Federated evaluation: the metrics participants report, e.g. ["loss", "accuracy"].
metrics = []
# Evaluation examples count up to max_examples per participant.
max_examples = 100000
# A file with the initial global model (a global-model body, or raw little-endian .f32/.f64);
# "" = zeros.
initial_model = ""
# With metrics and a round limit: after the last training round one evaluation-only round
# evaluates the final model (participants' updates are set aside in it).
final_evaluation = true
# Rounds whose model and checkpoint are kept besides the latest and the best; 0 = all.
keep_checkpoints = 0

[run.early_stopping]
# The metric that judges the best model ("" = none); stopping needs patience > 0.
metric = ""
mode = "min"
# Evaluations without improvement after which the run ends; 0 = never stop.
patience = 0
tolerance = 0.0
relative = false

# Differential privacy (docs/privacy.md): participants clip their updates; "central-gaussian": the
# coordinator adds Gaussian noise to the average; "skellam" / "distributed-discrete-gaussian": every
# update participant adds its share of the noise before masking, so nobody sees a less noisy sum.
# The round parameters announce the promise (bound into the round seed) and the ε it spends.
[run.privacy]
mechanism = "none"
# L2 norm every participant clips its update to (announced in GET /run and GET /params).
clip_norm = 1.0
# Distributed noise: the sum carries the noise of at least this many participants (those you trust
# not to collude with the coordinator); pet.update.count.min must be at least this.
participants = 10
# Adaptive clipping (Andrew et al. 2021): each participant's "update norm ≤ clip_norm" bit travels,
# weighted by clip_bit_weight, inside its noised vector; after each round the clip norm moves by
# exp(−clip_learning_rate · (fraction unclipped − target_quantile)). clip_norm is where it starts.
adaptive_clipping = false
target_quantile = 0.5
clip_learning_rate = 0.2
clip_bit_weight = 0.5
# Distributed noise: "hadamard" makes every participant rotate its clipped update by a randomized
# Walsh–Hadamard transform drawn from the round seed before rounding; the coordinator rotates back.
rotation = "none"
# σ: the noise on the sum has standard deviation σ · clip_norm.
noise_multiplier = 1.0
# > 0: σ is solved so that run.rounds rounds spend this ε at delta (noise_multiplier is ignored).
target_epsilon = 0.0
delta = 1e-5
# > 0: the run ends before a round would spend more than this ε; 0 = no budget.
budget_epsilon = 0.0
`;

/** Settings that failed validation: `problems` lists every one, "path: expected X, got Y". */
export class SettingsError extends CoordinatorError {
  override readonly name = 'SettingsError';
  declare readonly code: 'invalid-settings';

  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super('invalid-settings', `invalid settings:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

/** The `pet` settings in the file's shape (snake_case times), for merging a change over them. */
function petTree(pet: Settings['pet']): Tree {
  const phase = (p: Settings['pet']['sum2']) => ({
    count: { min: p.count.min, max: p.count.max },
    time: { min_ms: p.time.minMs, max_ms: p.time.maxMs },
  });
  return {
    sum: { probability: pet.sum.probability, ...phase(pet.sum) },
    update: { probability: pet.update.probability, ...phase(pet.update) },
    sum2: phase(pet.sum2),
  };
}

/**
 * Applies a change to the per-round settings (`PUT /admin/settings`): `change` has the file's
 * `pet` shape, any subset of it (`{"sum": {"probability": 0.2}, "update": {"time": {"max_ms": 30000}}}`).
 * Merged over `current`, it is validated by the file's `pet` schema: keys that are not settings
 * and every invalid field are listed in one SettingsError.
 */
export function changePetSettings(
  current: Settings['pet'],
  change: unknown,
  mask: MaskConfig,
  safety: Settings['safety'],
  run?: Settings['run'],
): Settings['pet'] {
  const schema = petSchema({ allowUnsafeSmallRounds: safety.allowUnsafeSmallRounds, mask });
  const result = v.safeParse(schema, isTree(change) ? merge(petTree(current), change) : change);
  if (!result.success) throw new SettingsError(problemLines(result.issues, ['pet']));
  // Distributed noise needs its participants in every released sum (docs/privacy.md §1).
  const privacy = run?.enabled === true ? run.privacy : null;
  if (
    privacy !== null &&
    isDistributedMechanism(privacy.mechanism) &&
    result.output.update.count.min < privacy.participants
  ) {
    throw new SettingsError([
      `pet.update.count.min: ${result.output.update.count.min} is below run.privacy.participants ${privacy.participants}, whose noise every sum must carry`,
    ]);
  }
  return result.output;
}

/**
 * Parses and validates settings. `toml` is the file's text (or undefined for none);
 * `env` is the process environment (only `PETFL_*` keys are read).
 */
export function parseSettings(toml: string | undefined, env: Readonly<Record<string, string | undefined>>): Settings {
  const defaults = parseToml(DEFAULT_SETTINGS_TOML) as Tree;
  let file: Tree = {};
  if (toml !== undefined) {
    try {
      file = parseToml(toml) as Tree;
    } catch (cause) {
      throw new SettingsError([`settings file: not valid TOML (${(cause as Error).message.split('\n')[0]})`]);
    }
  }
  const tree = merge(structuredClone(defaults), file);
  const unknownNames = applyEnv(tree, defaults, env);

  const mask = v.safeParse(maskSchema, getPath(tree, ['mask']));
  const context: SettingsContext = {
    // An invalid value is its own problem; until it is fixed the safe minimums hold.
    allowUnsafeSmallRounds: getPath(tree, ['safety', 'allow_unsafe_small_rounds']) === true,
    mask: mask.success ? mask.output : undefined,
  };
  const result = v.safeParse(settingsSchema(context), tree);
  const problems = [...unknownNames, ...(result.success ? [] : problemLines(result.issues))];
  if (!result.success || problems.length > 0) throw new SettingsError(problems);
  return result.output;
}
