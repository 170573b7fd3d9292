/**
 * Errors in plain words for the pages: what happened and what happens next,
 * keyed by the protocol's error codes (protocol.md §3.11) and the SDK's.
 * The code and the original message stay available (title attribute).
 */

const PLAIN: Readonly<Record<string, string>> = {
  'wrong-round': 'A message arrived after its round had ended; this participant joins the next round.',
  'wrong-phase': 'A message arrived after its phase had closed (the round moved on); it joins the next round.',
  'update-too-late':
    'This tab’s model was ready after the round’s update phase had closed; it was not sent, and the tab joins the next round.',
  'phase-full': 'The coordinator already had enough messages for this phase; it joins the next round.',
  'not-eligible': 'The coordinator did not accept this participant for that task this round.',
  'duplicate-message': 'This message had already been received (harmless after a retry).',
  'unknown-sum-participant': 'The coordinator does not know this sum participant for this round.',
  'seed-dict-mismatch': 'The seed dictionary did not match this round’s sum dictionary.',
  'body-too-large': 'A message was larger than the coordinator accepts.',
  unavailable: 'The coordinator could not decide right now (its store is down); the SDK retries.',
  'coordinator-unavailable': 'The coordinator cannot be reached; the SDK keeps trying.',
  'participant-init': 'Could not start: the coordinator did not answer, or a setting is wrong.',
  'callback-failed': 'Local training failed this round; this participant sits it out and tries again next round.',
  'local-model-length-mismatch': 'The local model has a different size than the coordinator’s model.',
  'local-model-data-type-mismatch': 'The local model contains a value that is not a finite number.',
  'global-model-unavailable': 'The latest global model could not be fetched.',
  'participant-restore': 'The saved participant state could not be read; a fresh participant was started.',
  'crypto-init': 'The cryptography library could not start in this browser.',
};

/** `{code, message}` as one sentence a person can act on. */
export function inPlainWords(error: { readonly code: string; readonly message: string }): string {
  return PLAIN[error.code] ?? error.message;
}
