/**
 * @petfl/coordinator — the PET coordinator. Re-exports only (CONVENTIONS §14).
 * Work in progress: settings first; the Hono app, round state machine, stores
 * and CLI follow (issue "@petfl/coordinator and the participant protocol engine").
 */

export {
  DEFAULT_SETTINGS_TOML,
  envName,
  type PhaseCount,
  type PhaseSettings,
  type PhaseTime,
  parseSettings,
  type Settings,
  SettingsError,
} from './settings.ts';
