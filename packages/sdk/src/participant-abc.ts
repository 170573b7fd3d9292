/**
 * ParticipantABC — the callback-style participant (architecture.md §5.2, after
 * xaynet's Python SDK): the app subclasses it and the SDK calls it. Each
 * round the participant is selected for an update task in, the SDK asks
 * `participateInUpdateTask()`, then calls `trainRound(input)` with the
 * latest global model (deserialized by `deserializeTrainingInput`, or null
 * before the first one) and sends `serializeTrainingResult(result)` as the
 * local model. `onNewGlobalModel` is called once per new global model,
 * `onUpdateAccepted` once per update the coordinator accepted and `onStop`
 * once when the participant stops. Run one with `spawnParticipant`.
 *
 * A method that throws never stops the participant (architecture.md §7.4): the
 * error becomes `snapshot.lastError` (and goes to `options.onError`), and the
 * participant skips that round's update.
 */

export abstract class ParticipantABC<TInput = Float32Array | Float64Array, TResult = ArrayLike<number>> {
  /** Trains on `input` (the latest global model, or null while there is none yet) and returns the result. */
  abstract trainRound(input: TInput | null): TResult | Promise<TResult>;

  /** The training result as the flat list of model weights the round's update carries. */
  abstract serializeTrainingResult(result: TResult): ArrayLike<number>;

  /** A global model (protocol.md §3.10) as the input `trainRound` expects. */
  abstract deserializeTrainingInput(globalModel: Float32Array | Float64Array): TInput;

  /** Asked once per update task, before training: false skips this round (default true). */
  participateInUpdateTask(): boolean | Promise<boolean> {
    return true;
  }

  /** Called once per new global model, deserialized (null is never passed by the SDK today). */
  onNewGlobalModel(_model: TInput | null): void {}

  /**
   * Called once when the update trained for round `roundId` has been accepted: the coordinator
   * answered 202 to its message (every chunk of it). An update that is refused (sent after its
   * phase closed, say) or never sent gets no call. Accepted is not yet aggregated: the round may
   * still fail, and then no global model comes from it. State that must follow exactly what the
   * coordinator aggregated (SCAFFOLD's control variate in `@petfl/tfjs`) commits here.
   */
  onUpdateAccepted(_roundId: number): void {}

  /** Called once when the participant stops. */
  onStop(): void {}
}
