import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stateStoreConformance } from '../../test-support/state-store.conformance.ts';
import { ParticipantInitError, ParticipantRestoreError } from '../errors.ts';
import { fileStateStore } from './file-state-store.ts';

const roots: string[] = [];
async function freshDir(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'petfl-file-store-'));
  roots.push(root);
  return join(root, 'state');
}
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

stateStoreConformance('fileStateStore', async () => fileStateStore({ dir: await freshDir() }));

describe('fileStateStore', () => {
  it('writes owner-only files in an owner-only directory, one per key, no temporary left', async () => {
    const dir = await freshDir();
    const store = fileStateStore({ dir });
    await store.set('petfl/participant-state', { v: 1 });
    await store.set('petfl/participant-state', { v: 2 });
    await store.set('../escape', { v: 3 });
    const files = (await readdir(dir)).sort();
    expect(files).toEqual(['%2E%2E%2Fescape.petfl-state', 'petfl%2Fparticipant-state.petfl-state']);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    for (const file of files) expect((await stat(join(dir, file))).mode & 0o777).toBe(0o600);
    expect(await store.get('petfl/participant-state')).toStrictEqual({ v: 2 });
  });

  it('tightens an existing directory to 0700 before the first write, and before the first read', async () => {
    const dir = await freshDir();
    await mkdir(dir, { mode: 0o755 });
    await chmod(dir, 0o755); // whatever the umask made of it
    expect((await stat(dir)).mode & 0o777).toBe(0o755);
    await fileStateStore({ dir }).set('k', { v: 1 });
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'k.petfl-state'))).mode & 0o777).toBe(0o600);

    await chmod(dir, 0o777);
    expect(await fileStateStore({ dir }).get('k')).toStrictEqual({ v: 1 });
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
  });

  it('creates missing parents and the directory itself 0700; a failed preparation is tried again', async () => {
    const root = join(await freshDir(), 'a', 'b');
    const store = fileStateStore({ dir: root });
    expect(await store.get('missing')).toBeUndefined();
    expect((await stat(root)).mode & 0o777).toBe(0o700);

    const blocked = await freshDir();
    await writeFile(blocked, 'a file where the directory should be');
    const failing = fileStateStore({ dir: blocked });
    await expect(failing.set('k', { v: 1 })).rejects.toThrow();
    await rm(blocked);
    await failing.set('k', { v: 1 });
    expect(await failing.get('k')).toStrictEqual({ v: 1 });
    expect((await stat(blocked)).mode & 0o777).toBe(0o700);
  });

  it('a truncated, corrupt or foreign file is a ParticipantRestoreError', async () => {
    const dir = await freshDir();
    const store = fileStateStore({ dir });
    await store.set('k', { secret: Uint8Array.of(1, 2, 3) });
    const path = join(dir, 'k.petfl-state');
    const bytes = await readFile(path);
    await writeFile(path, bytes.subarray(0, bytes.length - 2));
    await expect(store.get('k')).rejects.toThrow(ParticipantRestoreError);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 1;
    await writeFile(path, flipped);
    await expect(store.get('k')).rejects.toThrow('checksum mismatch');
    await writeFile(path, '{"secret": [1, 2, 3]}');
    await expect(store.get('k')).rejects.toThrow('not a petfl state file');
  });

  it('needs a directory', () => {
    expect(() => fileStateStore({ dir: '' })).toThrow(ParticipantInitError);
  });
});
