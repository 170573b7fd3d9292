/**
 * @petfl/coordinator — the PET coordinator's web-standard core: settings, the
 * round state machine, the ports (stores, clock, logger, admission, metrics)
 * with their memory implementations, and the Hono app. It runs wherever Hono
 * runs and needs no Node types (tsconfig.core.json proves it). Platform parts
 * are subpath adapters: `@petfl/coordinator/node` (listen, CLI, filesystem
 * model store), `@petfl/coordinator/redis`, `@petfl/coordinator/prometheus`.
 * Re-exports only.
 */

export { type Admission, type Admitted, admitEveryone, createAdmission } from './admission/admission.ts';
export { memoryRateLimitStores, type RateLimitStores } from './admission/rate-limit.ts';
export { type Clock, systemClock } from './clock.ts';
export { type CoordinatorApp, type CoordinatorPorts, createCoordinatorApp } from './create.ts';
export { type AppDeps, createApp } from './http/app.ts';
export { ERROR_STATUS } from './http/error-status.ts';
export { type Logger, silentLogger } from './logger.ts';
export type { CoordinatorMetrics, MetricsText } from './metrics.ts';
export {
  type AdmissionSettings,
  changePetSettings,
  DEFAULT_SETTINGS_TOML,
  envName,
  type PhaseCount,
  type PhaseSettings,
  type PhaseTime,
  parseSettings,
  SAFE_MIN_COUNT,
  type Settings,
  SettingsError,
} from './settings.ts';
export { type StartupReport, startupProblems } from './startup-problems.ts';
export {
  type Accepted,
  Coordinator,
  type CoordinatorDeps,
  type CoordinatorEvents,
  type CoordinatorStatus,
  type MessageContext,
  type Phase,
} from './state-machine/coordinator.ts';
export type { EligibilityFacts, EligibilityVerdict } from './state-machine/eligibility.ts';
export {
  type DecodeRequest,
  inProcessIngest,
  type MessageIngest,
  type OpenOutcome,
  type OpenRequest,
} from './state-machine/ingest.ts';
export { judgePhase, type PhaseVerdict } from './state-machine/phase-timing.ts';
export type {
  AggregateRecord,
  CoordinatorMeta,
  CoordinatorStore,
  LivePhase,
  RoundPetSettings,
  RoundRecord,
  RoundSummary,
} from './store/coordinator-store.ts';
export { MemoryModelStore } from './store/memory-model-store.ts';
export { MemoryCoordinatorStore } from './store/memory-store.ts';
export type { ModelStore } from './store/model-store.ts';
export { StoreError } from './store/store-error.ts';
