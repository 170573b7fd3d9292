/** Size entry (sizes/core/index.html): the whole `@petfl/core` namespace, libsodium included. */
import * as core from '@petfl/core';

Object.assign(globalThis, { core });
