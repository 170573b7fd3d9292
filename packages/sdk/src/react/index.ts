/**
 * `@petfl/sdk/react` — React bindings. Re-exports only.
 */

export { useParticipant } from './use-participant.ts';
