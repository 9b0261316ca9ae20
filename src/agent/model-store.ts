import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { hubPathProblem } from '../shared/hub-path.js';
import { DownloadError, DownloadErrorCode } from './download/download.errors.js';
import type { AgentDownloadRequest } from '../shared/agent-protocol.js';

const MANIFEST = 'llmfleet-model.json';
/** Present while a download is cancelled: a restarted agent keeps the partial file but does not resume it. */
const CANCELLED = 'llmfleet-cancelled';

/**
 * Where models live under MODELS_DIR: one directory per model (its id, URL-encoded), holding the files at their repo
 * paths and the manifest they were fetched from, so a restarted agent knows what each file must be.
 */
export class ModelStore {
  readonly root: string;

  constructor(modelsDir: string) {
    this.root = resolve(modelsDir);
  }

  dirFor(modelId: string): string {
    const name = encodeURIComponent(modelId);
    if (!modelId || name === '.' || name === '..') throw new Error(`Invalid model id "${modelId}"`);
    return join(this.root, 'models', name);
  }

  /** The local path of a repo file; refuses any path that is unsafe or would leave the model's directory. */
  pathFor(modelId: string, repoPath: string): string {
    const dir = this.dirFor(modelId);
    const problem = hubPathProblem(repoPath);
    const target = resolve(dir, repoPath);
    if (problem || !target.startsWith(dir + sep)) {
      throw new Error(
        `File path ${JSON.stringify(repoPath)} of ${modelId} is refused: ${problem ?? 'it leaves the model directory'}`,
      );
    }
    return target;
  }

  /**
   * The path a download of this file writes to, once every directory from MODELS_DIR down to it exists and none of
   * them, nor the file or its `.partial`, is a symbolic link: a link planted in MODELS_DIR is never followed (nothing
   * is written outside it). Missing directories are created one by one, each checked.
   */
  async writablePathFor(modelId: string, repoPath: string): Promise<string> {
    const target = this.pathFor(modelId, repoPath);
    await this.realDirectory(dirname(target));
    for (const path of [target, `${target}.partial`]) await refuseLink(path);
    return target;
  }

  /** Creates `dir` (under MODELS_DIR) component by component, refusing any that is a symbolic link or not a directory. */
  private async realDirectory(dir: string): Promise<void> {
    const parts = relative(this.root, dir).split(sep).filter(Boolean);
    if (parts[0] === '..' || isAbsolute(parts[0] ?? '')) throw new Error(`${dir} is outside MODELS_DIR`);
    let current = this.root;
    for (const part of parts) {
      current = join(current, part);
      const info = await lstat(current).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null;
        throw err;
      });
      if (info === null) {
        await mkdir(current).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'EEXIST') throw err;
        });
        continue;
      }
      if (info.isSymbolicLink()) throw symlinkRefused(current);
      if (!info.isDirectory()) throw new Error(`${current} in MODELS_DIR is not a directory`);
    }
    // Raced by a link made between the checks and the mkdir: look once more.
    for (let path = dir; path.length > this.root.length; path = dirname(path)) {
      if ((await lstat(path)).isSymbolicLink()) throw symlinkRefused(path);
    }
  }

  async saveManifest(request: AgentDownloadRequest): Promise<void> {
    const dir = this.dirFor(request.modelId);
    await this.realDirectory(dir);
    await writeNoFollow(join(dir, `${MANIFEST}.tmp`), JSON.stringify(request, null, 2));
    await refuseLink(join(dir, MANIFEST));
    await rename(join(dir, `${MANIFEST}.tmp`), join(dir, MANIFEST));
  }

  async manifests(): Promise<AgentDownloadRequest[]> {
    const base = join(this.root, 'models');
    const names = await readdir(base).catch(() => [] as string[]);
    const found: AgentDownloadRequest[] = [];
    if ((await lstat(base).catch(() => null))?.isSymbolicLink()) return [];
    for (const name of names) {
      try {
        // A model directory or manifest that is a symbolic link is not ours: never read through it.
        const linked = await Promise.all([join(base, name), join(base, name, MANIFEST)].map((p) => lstat(p)));
        if (linked.some((info) => info.isSymbolicLink())) continue;
        found.push(JSON.parse(await readFile(join(base, name, MANIFEST), 'utf8')) as AgentDownloadRequest);
      } catch {
        // A directory without a readable manifest is not ours to judge; leave it alone.
      }
    }
    return found;
  }

  async markCancelled(modelId: string, cancelled: boolean): Promise<void> {
    const marker = join(this.dirFor(modelId), CANCELLED);
    if (!cancelled) return rm(marker, { force: true });
    await this.realDirectory(this.dirFor(modelId));
    await writeNoFollow(marker, new Date().toISOString());
  }

  async isCancelled(modelId: string): Promise<boolean> {
    return (await this.sizeOf(join(this.dirFor(modelId), CANCELLED))) !== null;
  }

  async remove(modelId: string): Promise<void> {
    await rm(this.dirFor(modelId), { recursive: true, force: true });
  }

  async sizeOf(path: string): Promise<number | null> {
    try {
      return (await stat(path)).size;
    } catch {
      return null;
    }
  }
}

function symlinkRefused(path: string): DownloadError {
  return new DownloadError(
    DownloadErrorCode.IO_ERROR,
    `${path} is a symbolic link: llmfleet never follows links inside MODELS_DIR (remove it and download again)`,
    { retryable: false },
  );
}

async function refuseLink(path: string): Promise<void> {
  const info = await lstat(path).catch(() => null);
  if (info?.isSymbolicLink()) throw symlinkRefused(path);
}

/** Writes a small file, never through a symbolic link (O_NOFOLLOW: a planted link makes the open fail). */
async function writeNoFollow(path: string, content: string): Promise<void> {
  const handle = await open(
    path,
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    0o644,
  ).catch((err: NodeJS.ErrnoException) => Promise.reject(err.code === 'ELOOP' ? symlinkRefused(path) : err));
  try {
    await handle.writeFile(content);
  } finally {
    await handle.close();
  }
}
