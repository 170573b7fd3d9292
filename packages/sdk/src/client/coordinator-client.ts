/**
 * The coordinator as the participant sees it (protocol.md §1.2): four reads
 * and one write. Reads answer `undefined` while their data is not available
 * yet (HTTP 204); `postMessage` resolves when the message (or, for a
 * multipart message, this chunk) is accepted.
 *
 * Failures come in two kinds, because the participant reacts differently:
 * `CoordinatorRejectedError` — the coordinator understood and refused (a 4xx
 * answer with a PetError code, protocol.md §3.11): retrying the same request
 * cannot help; `CoordinatorUnavailableError` — network failure, 5xx, or a
 * malformed answer, after the client's own retries: try again later. The
 * HTTP client adds a third, from the app's side: `AdmissionTokenError` when
 * the app's token function fails (admission-token.ts).
 */

import type { GlobalModel, RoundParameters } from '@petfl/core';
import { PetflError } from '../errors.ts';
import type { AbortSignalLike } from '../state-machine/io.ts';

export interface CoordinatorClient {
  /** `GET /params`; undefined while no round has started. */
  getParams(): Promise<RoundParameters | undefined>;
  /** `GET /sums`: the sum dictionary (base64url sum participant pk → ephemeral pk); undefined until the sum phase ended. */
  getSums(): Promise<ReadonlyMap<string, Uint8Array> | undefined>;
  /**
   * `GET /seeds?pk=&sig=`: the update seed dictionary of one sum participant (base64url update
   * participant pk → encrypted mask seed); undefined until the update phase ended. Rejected with
   * code 'unknown-sum-participant' when that pk is not in the sum dictionary. `signature` is
   * `signSeedsRequest(crypto, round.coordinatorPk, identity)` (seeds-request.ts): the sum
   * participant's proof that the column it asks for is its own.
   */
  getSeeds(sumParticipantPk: Uint8Array, signature: Uint8Array): Promise<ReadonlyMap<string, Uint8Array> | undefined>;
  /**
   * `GET /seeds?pk=&sig=&so_far=1` (protocol.md §1.2, ADR 0017): as `getSeeds`, and also while the
   * update phase runs — the seeds accepted so far (`final: false`; later answers only add to
   * them) — so that a sum participant derives their masks before the phase ends. Undefined
   * while neither exists. Optional: without it the participant derives every mask in sum2.
   */
  getSeedsSoFar?(sumParticipantPk: Uint8Array, signature: Uint8Array): Promise<SeedsSoFar | undefined>;
  /**
   * `GET /model`: the latest global model; undefined until one exists. The client may keep the
   * model's array (HttpCoordinatorClient answers a 304 with it): read it, never change it.
   */
  getModel(): Promise<GlobalModel | undefined>;
  /** `POST /message`: one sealed message (protocol.md §3.2). */
  postMessage(sealed: Uint8Array): Promise<void>;
  /**
   * `GET /phase?after=&wait_ms=` (protocol.md §1.2, a long poll): the coordinator's phase token
   * once it differs from `after` (at once if it does), or the unchanged one after `waitMs`.
   * Undefined when the coordinator has no such route. Optional: without it the participant
   * only polls. Aborting `signal` ends the request (it then rejects): the loop does so when
   * its own timer wins the race, so no request is left open on the coordinator. `untilRound`
   * (`&until=round`): a later phase of `after`'s round is no change — for a participant with no
   * task left in that round; a coordinator without it answers at every phase, as before.
   */
  waitForPhaseChange?(
    after: string,
    waitMs: number,
    signal?: AbortSignalLike,
    untilRound?: boolean,
  ): Promise<string | undefined>;
}

/** A sum participant's update seed dictionary: the final one, or the seeds accepted so far (ADR 0017). */
export interface SeedsSoFar {
  readonly seeds: ReadonlyMap<string, Uint8Array>;
  /** True once the update phase has ended: no seed comes or goes any more. */
  readonly final: boolean;
}

/**
 * The coordinator refused the request (a 4xx answer); `code` is the JSON body's code, as the
 * coordinator sent it (a wire string: a PetError code, or one of the coordinator's own such as
 * 'unauthorized' or 'not-found').
 */
export class CoordinatorRejectedError extends PetflError {
  override readonly name = 'CoordinatorRejectedError';
  readonly status: number;

  /** `code`: a PetError code ('wrong-round', 'not-eligible', …), or 'unknown' when the body had none. */
  constructor(status: number, code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.status = status;
  }
}

/**
 * The coordinator could not be reached or answered 5xx or nonsense, even after retries: transient.
 * Its code is 'unavailable' (an answer that did not decode is recorded in the participant's state
 * by its decoder's code instead, state.ts).
 */
export class CoordinatorUnavailableError extends PetflError {
  override readonly name = 'CoordinatorUnavailableError';
  /** The HTTP status, when an answer came. */
  readonly status: number | undefined;

  constructor(message: string, options?: { cause?: unknown; status?: number }) {
    super('unavailable', message, options);
    this.status = options?.status;
  }
}
