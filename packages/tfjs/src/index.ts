/**
 * @petfl/tfjs — TensorFlow.js glue for petfl (architecture.md §2): model weights as
 * one vector, backend selection with a numeric self-check, and a ready
 * ParticipantABC for `tf.LayersModel`. Re-exports only (architecture.md §7.2).
 */

export {
  type BackendSelection,
  backendCanTrainConv,
  DEFAULT_BACKENDS,
  NoUsableBackendError,
  type SelectBackendOptions,
  type SkippedBackend,
  selectBackend,
} from './backend.ts';
export {
  type LocalData,
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
