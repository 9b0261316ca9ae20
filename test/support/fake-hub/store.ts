import { createHash } from 'node:crypto';

export interface FakeFileInput {
  path: string;
  content: Buffer;
  /** Stored in LFS (a sha256 the Hub reports, served through the CDN). Default: `.gguf` files and files of 10 MiB or more. */
  lfs?: boolean;
}

export interface FakeGgufInput {
  total?: number | null;
  architecture?: string | null;
  contextLength?: number | null;
}

export interface FakeRepoInput {
  /** `org/name`. */
  id: string;
  files: FakeFileInput[];
  /** Commit sha (40 hex); default derived from the id and the files. */
  sha?: string;
  gated?: false | 'auto' | 'manual';
  private?: boolean;
  downloads?: number;
  likes?: number;
  trendingScore?: number;
  lastModified?: Date;
  createdAt?: Date;
  /** `gguf` is added when the repo holds a .gguf file, as the Hub does. */
  tags?: string[];
  pipelineTag?: string | null;
  /** Default for repos with a .gguf file: llama, context 2048, a parameter count from the largest file. */
  gguf?: FakeGgufInput | null;
}

export interface FakeFile {
  path: string;
  content: Buffer;
  size: number;
  sha256: string;
  lfs: boolean;
  /** Git blob id: of the content, or of the LFS pointer for LFS files. */
  gitOid: string;
  pointerSize: number;
}

export interface FakeCommit {
  sha: string;
  files: Map<string, FakeFile>;
}

export interface FakeRepo {
  id: string;
  objectId: string;
  gated: false | 'auto' | 'manual';
  private: boolean;
  downloads: number;
  likes: number;
  trendingScore: number;
  lastModified: Date;
  createdAt: Date;
  tags: string[];
  pipelineTag: string | null;
  gguf: { total: number | null; architecture: string | null; context_length: number | null } | null;
  /** Oldest first; the last one is `main`/`HEAD`. Re-adding a repo pushes a commit, older shas stay resolvable. */
  commits: FakeCommit[];
}

const REPO_ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]*\/[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const LFS_THRESHOLD = 10 * 1024 * 1024;

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const sha1 = (data: Buffer | string): string => createHash('sha1').update(data).digest('hex');
const gitBlobOid = (data: Buffer): string => sha1(Buffer.concat([Buffer.from(`blob ${data.length}\0`), data]));

function buildFile(input: FakeFileInput): FakeFile {
  const digest = sha256(input.content);
  const lfs = input.lfs ?? (input.path.endsWith('.gguf') || input.content.length >= LFS_THRESHOLD);
  const pointer = Buffer.from(
    `version https://git-lfs.github.com/spec/v1\noid sha256:${digest}\nsize ${input.content.length}\n`,
  );
  return {
    path: input.path,
    content: input.content,
    size: input.content.length,
    sha256: digest,
    lfs,
    gitOid: gitBlobOid(lfs ? pointer : input.content),
    pointerSize: lfs ? pointer.length : 0,
  };
}

/** Builds the repo, or the next commit of `previous` when given. */
export function buildRepo(input: FakeRepoInput, previous?: FakeRepo): FakeRepo {
  if (!REPO_ID.test(input.id)) throw new Error(`FakeHub: repo id ${input.id} must look like org/name`);
  if (input.sha !== undefined && !/^[0-9a-f]{40}$/.test(input.sha))
    throw new Error('FakeHub: sha must be 40 hex digits');
  const files = new Map(input.files.map((f) => [f.path, buildFile(f)]));
  const sha =
    input.sha ??
    sha1(
      [input.id, previous?.commits.length ?? 0, ...[...files.values()].map((f) => `${f.path}:${f.sha256}`)].join('\n'),
    );
  const ggufFiles = [...files.values()].filter((f) => f.path.endsWith('.gguf'));
  const defaultGguf =
    ggufFiles.length > 0
      ? { total: Math.round(Math.max(...ggufFiles.map((f) => f.size)) / 4), architecture: 'llama', contextLength: 2048 }
      : null;
  const gguf = input.gguf === undefined ? defaultGguf : input.gguf;
  const tags = [...new Set([...(input.tags ?? []), ...(ggufFiles.length > 0 ? ['gguf'] : [])])];
  const commits = (previous?.commits ?? []).filter((c) => c.sha !== sha);
  commits.push({ sha, files });
  return {
    id: input.id,
    objectId: previous?.objectId ?? sha1(input.id).slice(0, 24),
    gated: input.gated ?? false,
    private: input.private ?? false,
    downloads: input.downloads ?? 0,
    likes: input.likes ?? 0,
    trendingScore: input.trendingScore ?? 0,
    lastModified: input.lastModified ?? new Date(),
    createdAt: previous?.createdAt ?? input.createdAt ?? new Date(),
    tags,
    pipelineTag:
      input.pipelineTag === undefined ? (ggufFiles.length > 0 ? 'text-generation' : null) : input.pipelineTag,
    gguf: gguf
      ? {
          total: gguf.total ?? null,
          architecture: gguf.architecture ?? null,
          context_length: gguf.contextLength ?? null,
        }
      : null,
    commits,
  };
}

/** `main`, `HEAD` or a commit sha of the repo; undefined otherwise. */
export function findCommit(repo: FakeRepo, revision: string): FakeCommit | undefined {
  if (revision === 'main' || revision === 'HEAD') return repo.commits[repo.commits.length - 1];
  return repo.commits.find((c) => c.sha === revision);
}

export function head(repo: FakeRepo): FakeCommit {
  const commit = repo.commits[repo.commits.length - 1];
  if (!commit) throw new Error(`FakeHub: ${repo.id} has no commit`);
  return commit;
}

function sibling(file: FakeFile, blobs: boolean): Record<string, unknown> {
  if (!blobs) return { rfilename: file.path };
  return {
    rfilename: file.path,
    size: file.size,
    blobId: file.gitOid,
    ...(file.lfs ? { lfs: { sha256: file.sha256, size: file.size, pointerSize: file.pointerSize } } : {}),
  };
}

/** Every field `GET /api/models/{repo}` can hold, keyed by its expand name. */
export function modelFields(repo: FakeRepo, commit: FakeCommit, blobs: boolean): Record<string, unknown> {
  return {
    author: repo.id.split('/')[0],
    sha: commit.sha,
    lastModified: repo.lastModified.toISOString(),
    createdAt: repo.createdAt.toISOString(),
    private: repo.private,
    gated: repo.gated,
    disabled: false,
    downloads: repo.downloads,
    likes: repo.likes,
    trendingScore: repo.trendingScore,
    tags: repo.tags,
    pipeline_tag: repo.pipelineTag ?? undefined,
    library_name: repo.gguf ? 'gguf' : undefined,
    gguf: repo.gguf ?? undefined,
    siblings: [...commit.files.values()].map((f) => sibling(f, blobs)),
    spaces: [],
    usedStorage: [...commit.files.values()].reduce((sum, f) => sum + f.size, 0),
  };
}

export function modelInfoJson(repo: FakeRepo, commit: FakeCommit, blobs: boolean): Record<string, unknown> {
  return { _id: repo.objectId, id: repo.id, modelId: repo.id, ...modelFields(repo, commit, blobs) };
}

/** `GET /api/models/{repo}/tree/{rev}/{dir}`: the entries directly under dir (all below it when recursive). */
export function treeEntries(commit: FakeCommit, dir: string, recursive: boolean): Record<string, unknown>[] | null {
  const prefix = dir === '' ? '' : `${dir}/`;
  const entries = new Map<string, Record<string, unknown>>();
  for (const file of commit.files.values()) {
    if (!file.path.startsWith(prefix)) continue;
    const rest = file.path.slice(prefix.length).split('/');
    if (!recursive && rest.length > 1) {
      const path = prefix + rest[0];
      entries.set(path, { type: 'directory', oid: sha1(`tree:${path}`), size: 0, path });
      continue;
    }
    if (recursive) {
      for (let i = 1; i < rest.length; i += 1) {
        const path = prefix + rest.slice(0, i).join('/');
        entries.set(path, { type: 'directory', oid: sha1(`tree:${path}`), size: 0, path });
      }
    }
    entries.set(file.path, {
      type: 'file',
      oid: file.gitOid,
      size: file.size,
      path: file.path,
      ...(file.lfs ? { lfs: { oid: file.sha256, size: file.size, pointerSize: file.pointerSize } } : {}),
    });
  }
  if (entries.size === 0 && dir !== '') return null;
  return [...entries.values()].sort((a, b) => String(a.path).localeCompare(String(b.path)));
}
