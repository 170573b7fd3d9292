/**
 * The filesystem model store (`models.dir`): one file per round,
 * `round-<id, 10 digits>.bin`, plus `latest.bin`, each holding the global
 * model body of protocol.md §3.10 in float64 (`GET /model` serves the data type of the
 * round's mask config, converted from this exact copy), and with a training run
 * `round-<id>.run`, the round's checkpoint (docs/learning.md §6).
 *
 * A file is never seen half-written: it is written to a temporary file in the
 * same directory, flushed to disk, renamed over its name (atomic on POSIX),
 * and the directory is flushed so the rename itself survives a power loss.
 * A crash at any point leaves the previous file intact; at worst a stray
 * `.tmp-*` file remains, which readers ignore. Saves through one store are
 * serialized, so two saves cannot race on `latest.bin` and an older round
 * never replaces a newer one there.
 */

import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeGlobalModel, encodeGlobalModel, GLOBAL_MODEL_HEADER_BYTES, type GlobalModel } from '@petfl/core';
import type { ModelStore } from './model-store.ts';
import { StoreError } from './store-error.ts';

export const LATEST_MODEL_FILE = 'latest.bin';

const MAX_ROUND_ID = 0xffff_ffff;

/** `round-0000000042.bin`: zero-padded so the files sort by round. */
export function roundModelFile(roundId: number): string {
  return `round-${String(roundId).padStart(10, '0')}.bin`;
}

/** `round-0000000042.run`: a training run's checkpoint of the round (docs/learning.md §6). */
export function roundCheckpointFile(roundId: number): string {
  return `round-${String(roundId).padStart(10, '0')}.run`;
}

const CHECKPOINT_FILE = /^round-(\d{10})\.run$/;

function validRoundId(roundId: number): boolean {
  return Number.isInteger(roundId) && roundId >= 0 && roundId <= MAX_ROUND_ID;
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class FsModelStore implements ModelStore {
  /** The tail of the save queue: each save starts when the one before it has settled. */
  private saving: Promise<void> = Promise.resolve();

  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  save(model: GlobalModel): Promise<void> {
    const run = this.saving.then(() => this.saveNow(model));
    this.saving = run.catch(() => undefined);
    return run;
  }

  async latest(): Promise<GlobalModel | undefined> {
    return this.read(LATEST_MODEL_FILE);
  }

  async get(roundId: number): Promise<GlobalModel | undefined> {
    // No file can hold a round id the wire format cannot carry.
    if (!validRoundId(roundId)) return undefined;
    const model = await this.read(roundModelFile(roundId));
    if (model !== undefined && model.roundId !== roundId) {
      throw new StoreError(`${join(this.dir, roundModelFile(roundId))}: holds the model of round ${model.roundId}`);
    }
    return model;
  }

  saveCheckpoint(roundId: number, bytes: Uint8Array): Promise<void> {
    const run = this.saving.then(async () => {
      if (!validRoundId(roundId)) throw new StoreError(`save: checkpoint of round ${roundId}: not a round id`);
      await this.ensureDir();
      await this.writeAtomic(roundCheckpointFile(roundId), bytes);
    });
    this.saving = run.catch(() => undefined);
    return run;
  }

  async checkpoint(roundId: number): Promise<Uint8Array | undefined> {
    if (!validRoundId(roundId)) return undefined;
    const path = join(this.dir, roundCheckpointFile(roundId));
    try {
      return new Uint8Array(await readFile(path));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw new StoreError(`${path}: cannot read: ${messageOf(error)}`, { cause: error });
    }
  }

  async checkpointRounds(): Promise<readonly number[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if (isMissing(error)) return [];
      throw new StoreError(`${this.dir}: cannot list: ${messageOf(error)}`, { cause: error });
    }
    return names
      .flatMap((name) => {
        const match = CHECKPOINT_FILE.exec(name);
        return match === null ? [] : [Number(match[1])];
      })
      .sort((a, b) => a - b);
  }

  drop(roundId: number): Promise<void> {
    const run = this.saving.then(async () => {
      if (!validRoundId(roundId) || roundId === (await this.latestRoundId())) return;
      for (const name of [roundModelFile(roundId), roundCheckpointFile(roundId)]) {
        const path = join(this.dir, name);
        await rm(path, { force: true }).catch((error: unknown) => {
          throw new StoreError(`${path}: cannot delete: ${messageOf(error)}`, { cause: error });
        });
      }
    });
    this.saving = run.catch(() => undefined);
    return run;
  }

  makeLatest(roundId: number): Promise<GlobalModel | undefined> {
    const run = this.saving.then(async () => {
      const model = await this.get(roundId);
      if (model === undefined) return undefined;
      await this.writeAtomic(LATEST_MODEL_FILE, encodeGlobalModel(model));
      return model;
    });
    this.saving = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async ensureDir(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
    } catch (error) {
      throw new StoreError(`${this.dir}: cannot create the model directory: ${messageOf(error)}`, { cause: error });
    }
  }

  private async saveNow(model: GlobalModel): Promise<void> {
    let bytes: Uint8Array;
    try {
      bytes = encodeGlobalModel(model);
    } catch (error) {
      throw new StoreError(`save: global model of round ${model.roundId}: ${messageOf(error)}`, { cause: error });
    }
    await this.ensureDir();
    await this.writeAtomic(roundModelFile(model.roundId), bytes);
    const latestRound = await this.latestRoundId();
    if (latestRound === undefined || model.roundId >= latestRound) await this.writeAtomic(LATEST_MODEL_FILE, bytes);
  }

  /** The round of `latest.bin` from its header alone (models can be large); undefined if none or unreadable. */
  private async latestRoundId(): Promise<number | undefined> {
    const path = join(this.dir, LATEST_MODEL_FILE);
    let file: Awaited<ReturnType<typeof open>> | undefined;
    try {
      file = await open(path, 'r');
      const header = new Uint8Array(GLOBAL_MODEL_HEADER_BYTES);
      const { bytesRead } = await file.read(header, 0, header.length, 0);
      // A short (corrupt) latest.bin is replaced by the model being saved rather than kept forever.
      if (bytesRead < GLOBAL_MODEL_HEADER_BYTES) return undefined;
      return new DataView(header.buffer).getUint32(0, false);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw new StoreError(`${path}: cannot read: ${messageOf(error)}`, { cause: error });
    } finally {
      await file?.close();
    }
  }

  /** Write to a temporary file, fsync, rename over `name`, fsync the directory. */
  private async writeAtomic(name: string, bytes: Uint8Array): Promise<void> {
    const path = join(this.dir, name);
    const temp = join(this.dir, `.tmp-${name}-${randomUUID()}`);
    try {
      const file = await open(temp, 'wx');
      try {
        await file.writeFile(bytes);
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true }).catch(() => undefined);
      throw new StoreError(`${path}: cannot write: ${messageOf(error)}`, { cause: error });
    }
    await this.syncDir();
  }

  private async syncDir(): Promise<void> {
    let dir: Awaited<ReturnType<typeof open>> | undefined;
    try {
      dir = await open(this.dir, 'r');
      await dir.sync();
    } catch {
      // Some platforms (Windows) cannot open or flush a directory; the rename is then as durable
      // as the platform makes it, and the file itself is already flushed.
    } finally {
      await dir?.close().catch(() => undefined);
    }
  }

  private async read(name: string): Promise<GlobalModel | undefined> {
    const path = join(this.dir, name);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw new StoreError(`${path}: cannot read: ${messageOf(error)}`, { cause: error });
    }
    try {
      return decodeGlobalModel(bytes);
    } catch (error) {
      throw new StoreError(`${path}: corrupt global model: ${messageOf(error)}`, { cause: error });
    }
  }
}
