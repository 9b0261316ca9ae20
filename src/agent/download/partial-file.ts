import { constants } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { sha256OfFile } from './file-hasher.js';

/** True when `path` is a file of `size` bytes whose sha256 is `sha256` (hashed off this thread, no request). */
export async function holdsExpectedBytes(
  path: string,
  size: number,
  sha256: string,
  signal: AbortSignal,
): Promise<boolean> {
  const st = await stat(path).catch(() => null);
  if (!st?.isFile() || st.size !== size) return false;
  return (await sha256OfFile(path, size, signal)) === sha256;
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
