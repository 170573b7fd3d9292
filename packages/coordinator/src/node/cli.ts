#!/usr/bin/env node
/**
 * `petfl-coordinator [--config petfl.toml] [--host 127.0.0.1]`: reads the
 * settings (TOML file plus PETFL_* environment, validated once), refuses to
 * start when they are unsafe for the host (`startupProblems`), starts the
 * coordinator, logs JSON lines with pino, and shuts down cleanly on SIGINT
 * and SIGTERM. `petfl-coordinator --generate-admin-token` prints a fresh
 * admin token (32 random bytes, base64url) and exits. The only file that
 * reads process.env (settings are read once, at the entry point): PETFL_*
 * settings, LOG_LEVEL (pino level, default info) and HOST (default 127.0.0.1).
 */

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { parseSettings, SettingsError } from '../settings.ts';
import { startupProblems } from '../startup-problems.ts';
import { ingestWorkers } from './create.ts';
import { listen } from './listen.ts';
import { applyHeapGrowing } from './v8-heap.ts';

const logger = pino({ name: 'petfl-coordinator', level: process.env['LOG_LEVEL'] ?? 'info' });

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string', short: 'c' },
      host: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      'generate-admin-token': { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: petfl-coordinator [--config petfl.toml] [--host 127.0.0.1]\n' +
        '       petfl-coordinator --generate-admin-token   # prints a fresh token for PETFL_API_ADMIN_TOKEN\n',
    );
    return;
  }
  if (values['generate-admin-token']) {
    // SECURITY: printed once, to stdout only, for the operator to store; never logged.
    process.stdout.write(`${randomBytes(32).toString('base64url')}\n`);
    return;
  }
  const toml = values.config === undefined ? undefined : readFileSync(values.config, 'utf8');
  const settings = parseSettings(toml, process.env);
  const hostname = values.host ?? process.env['HOST'] ?? '127.0.0.1';
  const { problems, warnings } = startupProblems(settings, hostname);
  for (const warning of warnings) logger.warn({}, warning);
  if (problems.length > 0) {
    logger.error({ problems }, 'refusing to start');
    process.exit(1);
  }
  // Before anything allocates much: V8 reads the factor at each collection (docs/operations.md).
  const heapGrowing = applyHeapGrowing(settings.api.heapGrowingPercent);
  const running = await listen(settings, { logger, hostname });
  logger.info(
    {
      url: running.url,
      store: settings.store.kind,
      modelsDir: settings.models.dir,
      mask: settings.mask,
      modelLength: settings.model.length,
      ingestWorkers: ingestWorkers(settings.api),
      heapGrowing,
    },
    `coordinator listening on ${running.url} (operator status: GET ${running.url}/admin/status)`,
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    running.close().then(
      () => {
        logger.info({}, 'stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: (error as Error).message }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  if (error instanceof SettingsError) logger.error({ problems: error.problems }, 'invalid settings');
  else logger.error({ err: error instanceof Error ? error.message : String(error) }, 'could not start');
  process.exit(1);
});
