/**
 * `@petfl/sdk/node` — a file-backed `StateStore` for Node participants
 * (servers, CLIs). Each key is one file in `dir`, named after the key
 * (percent-encoded, so '/' cannot escape the directory), holding the value
 * as framed plain data (plain-data.ts: magic 'PFLV', format, length, CRC-32).
 *
 * Writes are atomic: the bytes go to a fresh temporary file in the same
 * directory, are flushed to disk, and the file is renamed over the old one,
 * so a crash leaves either the old or the new state, never a torn one.
 *
 * SECURITY: the state holds private keys in the clear. The directory is
 * created owner-only (0700) — an existing one is tightened to 0700 before the
 * first read or write — and every file is written owner-only (0600); put
 * `dir` where the service keeps its secrets.
 */

import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ParticipantInitError, ParticipantRestoreError } from '../errors.ts';
import { decodeFramed, encodeFramed } from '../plain-data.ts';
import type { StateStore } from '../state-machine/io.ts';

const VALUE_MAGIC = 'PFLV';
const FILE_SUFFIX = '.petfl-state';

export interface FileStateStoreOptions {
  /** The directory the state files live in; created 0700 when missing, tightened to 0700 when not. */
  readonly dir: string;
}

export function fileStateStore(options: FileStateStoreOptions): StateStore {
  if (typeof options?.dir !== 'string' || options.dir === '') {
    throw new ParticipantInitError(`fileStateStore: dir: expected a directory path, got ${String(options?.dir)}`);
  }
  return new FileStateStore(options.dir);
}

class FileStateStore implements StateStore {
  private ready: Promise<void> | undefined;

  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Creates the directory 0700, or tightens an existing one to 0700; once (again after a failure). */
  private prepare(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      // SECURITY: mkdir's mode only applies to a directory it creates (less the umask); one that
      // existed — made by hand, by a deployment, by an older SDK — may be readable by others.
      await chmod(this.dir, 0o700);
    })().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  /** The file that holds `key`. */
  path(key: string): string {
    if (typeof key !== 'string' || key === '') throw new TypeError('fileStateStore: key: expected a non-empty string');
    return join(this.dir, `${encodeURIComponent(key).replaceAll('.', '%2E')}${FILE_SUFFIX}`);
  }

  async get(key: string): Promise<unknown> {
    const path = this.path(key);
    await this.prepare();
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    try {
      return decodeFramed(VALUE_MAGIC, new Uint8Array(bytes), `state file ${path}`);
    } catch (cause) {
      if (cause instanceof ParticipantRestoreError) throw cause;
      throw new ParticipantRestoreError(`state file ${path}: ${String(cause)}`, { cause });
    }
  }

  async set(key: string, value: unknown): Promise<void> {
    const path = this.path(key);
    const bytes = encodeFramed(VALUE_MAGIC, value);
    await this.prepare();
    const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    // SECURITY: created 0600 ('wx': never reusing an existing file), so the keys are never
    // readable by others, not even for the moment before a chmod.
    const file = await open(temporary, 'wx', 0o600);
    try {
      await file.writeFile(bytes);
      await file.sync();
    } catch (error) {
      await file.close();
      await rm(temporary, { force: true });
      throw error;
    } finally {
      bytes.fill(0);
    }
    await file.close();
    try {
      await rename(temporary, path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async del(key: string): Promise<void> {
    try {
      await unlink(this.path(key));
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}

function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ENOENT';
}
