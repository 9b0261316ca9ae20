import { constants } from 'node:fs';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ByteRanges } from './byte-ranges.js';
import type { DownloadSpec } from './download.types.js';
import { syncDirectory } from './partial-file.js';

/**
 * Which byte ranges of a `.partial` downloaded over several connections are on disk, kept next to it
 * (`<file>.partial.ranges`) so a restarted agent resumes every gap and nothing else. Without this file a `.partial` is
 * a prefix of the file (one connection writes in order); with it, the `.partial` has the file's full size and only the
 * listed ranges are real. Written atomically, and only with ranges an fdatasync of the `.partial` already covered.
 */
interface PartialStateFile {
  version: 1;
  size: number;
  sha256: string;
  done: [number, number][];
}

export const partialPathOf = (destPath: string): string => `${destPath}.partial`;
export const partialStatePathOf = (destPath: string): string => `${destPath}.partial.ranges`;

/**
 * The ranges recorded for this download; null when there is no state file. A state file for other bytes, unreadable,
 * or not matching the `.partial` on disk is removed with the `.partial` (nothing in it can be trusted), and gives null.
 */
export async function loadPartialState(spec: DownloadSpec): Promise<ByteRanges | null> {
  const statePath = partialStatePathOf(spec.destPath);
  const text = await readFile(statePath, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (text === null) return null;
  const partial = await stat(partialPathOf(spec.destPath)).catch(() => null);
  const state = parse(text);
  if (
    state === null ||
    partial?.isFile() !== true ||
    partial.size !== spec.size ||
    state.size !== spec.size ||
    state.sha256 !== spec.sha256.toLowerCase()
  ) {
    await removePartial(spec.destPath);
    return null;
  }
  return new ByteRanges(state.done);
}

/** Replaces the state file atomically; `durable` also syncs it (the first one: a full-size `.partial` relies on it). */
export async function savePartialState(spec: DownloadSpec, ranges: ByteRanges, durable = false): Promise<void> {
  const statePath = partialStatePathOf(spec.destPath);
  const tmp = `${statePath}.tmp`;
  const body: PartialStateFile = {
    version: 1,
    size: spec.size,
    sha256: spec.sha256.toLowerCase(),
    done: ranges.list(),
  };
  const handle = await open(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    0o644,
  );
  try {
    await handle.writeFile(JSON.stringify(body));
    if (durable) await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, statePath);
  if (durable) await syncDirectory(dirname(statePath));
}

export async function removePartialState(destPath: string): Promise<void> {
  const statePath = partialStatePathOf(destPath);
  await rm(statePath, { force: true });
  await rm(`${statePath}.tmp`, { force: true });
}

/** Removes a download's `.partial` and its state file: the next download starts from zero. */
export async function removePartial(destPath: string): Promise<void> {
  // The .partial first: a state file left alone by a crash is discarded at the next load, a full-size .partial is not.
  await rm(partialPathOf(destPath), { force: true, recursive: true });
  await removePartialState(destPath);
}

function parse(text: string): PartialStateFile | null {
  try {
    const value = JSON.parse(text) as Partial<PartialStateFile>;
    if (value.version !== 1 || typeof value.size !== 'number' || typeof value.sha256 !== 'string') return null;
    if (!Array.isArray(value.done)) return null;
    const valid = value.done.every(
      (r) =>
        Array.isArray(r) &&
        r.length === 2 &&
        Number.isSafeInteger(r[0]) &&
        Number.isSafeInteger(r[1]) &&
        r[0] >= 0 &&
        r[0] < r[1] &&
        r[1] <= (value.size as number),
    );
    return valid ? (value as PartialStateFile) : null;
  } catch {
    return null;
  }
}
