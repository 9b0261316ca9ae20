/** One file of a registered model, pinned to a commit, as nodes download and verify it. */
export interface ManifestFile {
  path: string;
  size: number;
  sha256: string;
  role: ManifestFileRole;
}

export type ManifestFileRole = 'MODEL' | 'PROJECTOR';

/** What `GET /api/models/registry/{modelId}/manifest.json` serves to nodes. */
export interface ModelManifest {
  modelId: string;
  repo: string;
  revision: string;
  files: Array<ManifestFile & { url: string }>;
  totalBytes: number;
}
