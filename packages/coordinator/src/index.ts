/**
 * @petfl/coordinator — the PET coordinator: settings, round state machine,
 * stores, the Hono app and the Node entry. Re-exports only (CONVENTIONS §14).
 */

export { type Admission, type Admitted, admitEveryone, createAdmission } from './admission/admission.ts';
export { memoryRateLimitStores, type RateLimitStores } from './admission/rate-limit.ts';
export { RedisRateLimitStores } from './admission/redis-rate-limit-stores.ts';
export { type Clock, ManualClock, systemClock } from './clock.ts';
export { type CoordinatorApp, type CreateOptions, createCoordinatorApp, storeFromSettings } from './create.ts';
export { type AppDeps, createApp } from './http/app.ts';
export { ERROR_STATUS } from './http/error-status.ts';
export { type Logger, silentLogger } from './logger.ts';
export { Metrics } from './metrics.ts';
export { listen, type RunningCoordinator } from './node.ts';
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
export { startupProblems } from './startup-problems.ts';
export {
  type Accepted,
  Coordinator,
  type CoordinatorDeps,
  type CoordinatorEvents,
  type CoordinatorStatus,
  type MessageContext,
  type Phase,
} from './state-machine/coordinator.ts';
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
export { FsModelStore } from './store/fs-model-store.ts';
export { MemoryModelStore } from './store/memory-model-store.ts';
export { MemoryCoordinatorStore } from './store/memory-store.ts';
export type { ModelStore } from './store/model-store.ts';
export { RedisCoordinatorStore, type RedisCoordinatorStoreOptions } from './store/redis-store.ts';
export { StoreError } from './store/store-error.ts';
