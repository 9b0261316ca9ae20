import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { addGgufRepo, catalogEntry, writeCatalog } from '../../test/support/factories.js';
import { FakeHub } from '../../test/support/fake-hub.js';

/** A local Hub with `count` distinct GGUF repos and a supported_models.json that lists one model per repo. */
export interface BenchCatalog {
  hub: FakeHub;
  catalogPath: string;
  modelIds: string[];
  repos: string[];
  /** Stops the Hub and removes the catalog file. */
  dispose(): Promise<void>;
}

export async function startHubWithCatalog(count: number): Promise<BenchCatalog> {
  const hub = await FakeHub.start();
  const modelIds: string[] = [];
  const repos: string[] = [];
  const entries: Array<Record<string, unknown>> = [];
  for (let i = 0; i < count; i++) {
    const id = `bench-model-${String(i).padStart(3, '0')}`;
    const repo = `bench-org-${i % 7}/${id}-GGUF`;
    const file = `${id}-Q4_K_M.gguf`;
    addGgufRepo(hub, repo, [file], { downloads: 1000 + i * 37, likes: i });
    entries.push(catalogEntry({ id, name: `Bench model ${i}`, repo, recommended_filename: file }));
    modelIds.push(id);
    repos.push(repo);
  }
  const catalogPath = await writeCatalog(entries);
  return {
    hub,
    catalogPath,
    modelIds,
    repos,
    async dispose() {
      await hub.stop();
      await rm(dirname(catalogPath), { recursive: true, force: true });
    },
  };
}

/** The `models` query of the dashboard's catalog view, as operation `name` (a distinct name is a distinct cache key). */
export function modelsQuery(name = 'Models'): string {
  return (
    `query ${name} { models { id status downloadProgress availableNodes model { name repo sizeBytes } ` +
    'hfStats { downloads likes stale } nodes { nodeId lifecycleStatus progress } } }'
  );
}

/** The `models` query every models benchmark sends. */
export const MODELS_QUERY = modelsQuery();

export interface ModelsQueryData {
  models: Array<{
    id: string;
    status: string;
    downloadProgress: number | null;
    availableNodes: number;
    model: { repo: string };
    hfStats: { downloads: number; likes: number; stale: boolean } | null;
    nodes: Array<{ nodeId: string; lifecycleStatus: string; progress: number }>;
  }>;
}
