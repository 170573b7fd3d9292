#!/usr/bin/env node
// The coordinator CLI from this repository's sources (tests, benchmarks, development): tsx's
// loader for the .ts files and the `@petfl/source` condition for the workspace packages. The
// published `petfl-coordinator` command is dist/cli.js (package.json `bin`), plain Node.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
register('../../../scripts/source-condition-hook.mjs', import.meta.url);
await import('../src/node/cli.ts');
