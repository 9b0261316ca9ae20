import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
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

  /** The local path of a repo file; refuses any path that would leave the model's directory. */
  pathFor(modelId: string, repoPath: string): string {
    const dir = this.dirFor(modelId);
    const target = resolve(dir, repoPath);
    if (!target.startsWith(dir + sep) || repoPath.split('/').some((p) => p === '..' || p === '.' || p === '')) {
      throw new Error(`File path "${repoPath}" of ${modelId} leaves the model directory`);
    }
    return target;
  }

  async saveManifest(request: AgentDownloadRequest): Promise<void> {
    const dir = this.dirFor(request.modelId);
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `${MANIFEST}.tmp`);
    await writeFile(tmp, JSON.stringify(request, null, 2));
    await rename(tmp, join(dir, MANIFEST));
  }

  async manifests(): Promise<AgentDownloadRequest[]> {
    const base = join(this.root, 'models');
    const names = await readdir(base).catch(() => [] as string[]);
    const found: AgentDownloadRequest[] = [];
    for (const name of names) {
      try {
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
    await mkdir(this.dirFor(modelId), { recursive: true });
    await writeFile(marker, new Date().toISOString());
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
