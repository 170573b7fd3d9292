#!/usr/bin/env node
// The `petfl-coordinator` command. The package ships TypeScript sources, so the
// CLI runs through tsx's loader (Node 20 cannot run .ts by itself).
import { register } from 'tsx/esm/api';

register();
await import('../src/node/cli.ts');
