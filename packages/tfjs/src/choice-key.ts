/**
 * The key prefix of the backend choices `selectBackend` remembers (backend.ts), in a module of its
 * own that loads no TensorFlow.js: a page that trains in a Worker reads its remembered choices
 * from localStorage, which the Worker has not, and hands them in (apps/web's training Worker).
 */

/** The localStorage key prefix of remembered choices; the rest is a hash of the model's signature. */
export const CHOICE_KEY_PREFIX = 'petfl/tfjs/backend/';
