/**
 * Size entry (sizes/sdk-worker/index.html): what importing `spawnAsyncParticipant` from
 * `@petfl/sdk/worker` costs a page's main thread, and the Worker chunk it brings.
 */
import { spawnAsyncParticipant } from '@petfl/sdk/worker';

Object.assign(globalThis, { spawnAsyncParticipant });
