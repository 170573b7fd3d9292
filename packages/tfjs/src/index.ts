/**
 * @petfl/tfjs — TensorFlow.js glue for petfl (architecture.md §2): model weights as
 * one vector, backend selection by a numeric self-check and a timed training step, and a ready
 * ParticipantABC for `tf.LayersModel`, which also takes part in training runs (FedProx, SCAFFOLD,
 * federated evaluation; README), and local differential privacy by DP-SGD (`trainDpSgd`, or the
 * participant's `dpSgd` option).
 * Re-exports only (architecture.md §7.2).
 */

export {
  type BackendSelection,
  type BackendTiming,
  backendCanTrainConv,
  type ChoiceStore,
  DEFAULT_BACKENDS,
  type DeviceReport,
  layersModelTrial,
  modelSignature,
  NoUsableBackendError,
  type SelectBackendOptions,
  type SkippedBackend,
  selectBackend,
  type TrainingTrial,
  type TrialStep,
} from './backend.ts';
export { CHOICE_KEY_PREFIX } from './choice-key.ts';
export type { LocalData, LocalDataSource } from './fl/local-data.ts';
export { type ClientAlgorithm, type TrainingRun, TrainingRunError } from './fl/training-run.ts';
export type { ExampleLoss } from './privacy/clipped-gradients.ts';
export {
  type DpSgdContext,
  type DpSgdProgress,
  type DpSgdResult,
  type DpSgdStop,
  trainDpSgd,
} from './privacy/dp-sgd.ts';
export { type DpSgdOptions, dpSgdOptionProblems } from './privacy/dp-sgd-options.ts';
export {
  DpSgdBudgetError,
  type DpSgdStatus,
  type DpSgdTraining,
} from './privacy/dp-sgd-rounds.ts';
export {
  TfjsParticipant,
  type TfjsParticipantOptions,
  type TrainingProgress,
} from './tfjs-participant.ts';
export {
  ModelShapeMismatchError,
  modelToVector,
  modelToVectorAsync,
  NonFiniteWeightError,
  vectorToModel,
  weightCount,
} from './weights.ts';
