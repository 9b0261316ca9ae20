import { createHash, type Hash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { diskError } from './hashing-file-writer.js';
import { abortedError } from './shared-download.js';

const MiB = 1024 * 1024;

/** True when `path` is a file of `size` bytes whose sha256 is `sha256` (hashed once, no request). */
export async function holdsExpectedBytes(
  path: string,
  size: number,
  sha256: string,
  signal: AbortSignal,
): Promise<boolean> {
  const st = await stat(path).catch(() => null);
  if (!st?.isFile() || st.size !== size) return false;
  const hash = createHash('sha256');
  await hashFilePrefix(path, size, hash, signal);
  return hash.digest('hex') === sha256;
}

/** Bytes of the `.partial` worth resuming from: a file longer than the target cannot be a prefix of it. */
export async function usablePartialLength(partialPath: string, size: number): Promise<number> {
  const st = await stat(partialPath).catch(() => null);
  if (st === null) return 0;
  if (!st.isFile() || st.size > size) {
    await rm(partialPath, { force: true, recursive: true });
    return 0;
  }
  return st.size;
}

export async function hashFilePrefix(path: string, length: number, hash: Hash, signal: AbortSignal): Promise<void> {
  if (length === 0) return;
  try {
    const stream = createReadStream(path, { start: 0, end: length - 1, highWaterMark: 4 * MiB, signal });
    for await (const chunk of stream) hash.update(chunk as Buffer);
  } catch (err) {
    if (signal.aborted) throw abortedError(signal.reason);
    throw diskError(err as NodeJS.ErrnoException);
  }
}

/** Makes the rename durable: without it a crash can bring back the old directory entry. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY).catch(() => null);
  if (!handle) return;
  try {
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the data itself is already synced.
  } finally {
    await handle.close();
  }
}
