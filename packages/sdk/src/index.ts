/**
 * @petfl/sdk — the participant. Re-exports only (CONVENTIONS §14).
 * For now the protocol engine (`@petfl/sdk/engine`); ParticipantABC and
 * AsyncParticipant are built on it next.
 */

export {};
