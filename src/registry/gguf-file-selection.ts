import { RegistryError, RegistryErrorReason } from './registry.errors.js';

export interface RepoFile {
  path: string;
  size: number;
  sha256: string | null;
}

export interface GgufSelection {
  /** The model's weights: one file, or every part of a split GGUF in order. */
  modelFiles: RepoFile[];
  projector: RepoFile | null;
  quantization: string | null;
  /** Why these files, in words a user can read (shown on the registered model). */
  note: string;
}

/**
 * Order in which a quantization is picked when a repository holds several and the user named none: the community's
 * default (Q4_K_M: best size/quality trade-off), then near neighbours, then larger, then smaller, then unquantized.
 */
export const QUANTIZATION_PREFERENCE = [
  'Q4_K_M',
  'Q4_K_S',
  'Q5_K_M',
  'Q4_0',
  'IQ4_XS',
  'IQ4_NL',
  'Q5_K_S',
  'Q5_0',
  'Q6_K',
  'Q8_0',
  'Q3_K_L',
  'Q3_K_M',
  'IQ3_M',
  'IQ3_XS',
  'Q3_K_S',
  'Q2_K',
  'IQ2_M',
  'BF16',
  'F16',
  'F32',
] as const;

const PROJECTOR_PREFERENCE = ['F16', 'BF16', 'Q8_0', 'F32'];
const SPLIT = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/i;
const QUANT =
  /(?:^|[-_.])((?:IQ[1-4]_(?:XXS|XS|NL|S|M))|(?:Q[2-8]_K(?:_(?:XL|S|M|L))?)|(?:Q[4-8]_[01](?:_[48]_[48])?)|BF16|F16|F32|MXFP4|TQ[12]_0)(?=[-_.]|$)/i;

export function isGguf(path: string): boolean {
  return path.toLowerCase().endsWith('.gguf');
}

export function isProjector(path: string): boolean {
  return /mmproj/i.test(basename(path));
}

export function quantizationOf(path: string): string | null {
  const match = QUANT.exec(basename(path).replace(/\.gguf$/i, ''));
  return match ? match[1]!.toUpperCase() : null;
}

export function splitInfo(path: string): { base: string; part: number; total: number } | null {
  const match = SPLIT.exec(path);
  return match ? { base: match[1]!, part: Number(match[2]), total: Number(match[3]) } : null;
}

/**
 * What the caller knows of the model's need for a projector: `vision` true (a catalog vision model: found in the
 * repository when not named, a warning when there is none), false (a text model: none), undefined (a Hub URL: taken
 * when the repository has one).
 */
export interface ProjectorWish {
  vision?: boolean;
  /** The projector named by the catalog (`mmproj_filename`): must exist. */
  requested?: string | null;
}

/**
 * Chooses what to register from a repository's files: the named file (with all its split parts), or the preferred
 * quantization when none is named; plus the multimodal projector when the repo has one (or the one asked for).
 */
export function selectGgufFiles(
  repo: string,
  files: RepoFile[],
  requested: string | null,
  projectorWish: ProjectorWish = {},
): GgufSelection {
  const ggufs = files.filter((f) => isGguf(f.path));
  if (ggufs.length === 0) {
    const kinds = [...new Set(files.map((f) => extension(f.path)).filter(Boolean))].slice(0, 5).join(', ');
    throw new RegistryError(
      RegistryErrorReason.NOT_GGUF,
      `Repository ${repo} has no GGUF files${kinds ? ` (it has ${kinds})` : ''}; llmfleet serves GGUF models with llama.cpp`,
      { field: 'url', repo },
    );
  }
  const groups = groupCandidates(ggufs.filter((f) => !isProjector(f.path)));
  let chosen: RepoFile[];
  let note: string;

  if (requested !== null) {
    chosen = requestedGroup(repo, files, groups, requested);
    note = `Registered ${describe(chosen)} as requested.`;
  } else {
    if (groups.length === 0) {
      throw new RegistryError(
        RegistryErrorReason.NOT_GGUF,
        `Repository ${repo} has only projector (mmproj) GGUF files and no model weights`,
        {
          field: 'url',
          repo,
        },
      );
    }
    chosen = preferred(groups);
    const quant = quantizationOf(chosen[0]!.path);
    note =
      groups.length === 1
        ? `Registered ${describe(chosen)}, the only GGUF model in the repository.`
        : `Picked ${describe(chosen)}${quant ? ` (${quant})` : ''} among ${groups.length} GGUF variants by the quantization preference ${QUANTIZATION_PREFERENCE.slice(0, 4).join(' > ')} > …; name a file to choose another.`;
  }

  const requestedProjector = projectorWish.requested ?? null;
  const projector =
    projectorWish.vision === false && requestedProjector === null
      ? null
      : chooseProjector(repo, files, chosen, requestedProjector);
  if (projector) {
    const found = requestedProjector === null && projectorWish.vision === true ? ', found in the repository' : '';
    note += ` Multimodal projector: ${projector.path}${found}.`;
  } else if (projectorWish.vision === true) {
    note += ` Warning: this is a vision model but ${repo} has no multimodal projector (mmproj*.gguf), so it will answer text only; name one with mmproj_filename in the catalog if it has another name.`;
  }
  for (const file of [...chosen, ...(projector ? [projector] : [])]) {
    if (!file.sha256) {
      throw new RegistryError(
        RegistryErrorReason.MISSING_CHECKSUM,
        `File ${file.path} in ${repo} has no LFS sha256 on the Hub, so its download could not be verified`,
        { repo, file: file.path },
      );
    }
  }
  return { modelFiles: chosen, projector, quantization: quantizationOf(chosen[0]!.path), note };
}

function groupCandidates(files: RepoFile[]): RepoFile[][] {
  const singles: RepoFile[][] = [];
  const splits = new Map<string, RepoFile[]>();
  for (const file of files) {
    const split = splitInfo(file.path);
    if (!split) {
      singles.push([file]);
      continue;
    }
    const group = splits.get(split.base) ?? [];
    group.push(file);
    splits.set(split.base, group);
  }
  const complete = [...splits.values()]
    .map((g) => g.sort((a, b) => a.path.localeCompare(b.path)))
    .filter((g) => g.length === splitInfo(g[0]!.path)!.total);
  return [...singles, ...complete];
}

function requestedGroup(repo: string, files: RepoFile[], groups: RepoFile[][], requested: string): RepoFile[] {
  if (!isGguf(requested)) {
    throw new RegistryError(
      RegistryErrorReason.NOT_GGUF,
      `File ${requested} is not a GGUF file (.gguf); llmfleet serves GGUF models`,
      {
        field: 'url',
        repo,
        file: requested,
      },
    );
  }
  if (isProjector(requested)) {
    throw new RegistryError(
      RegistryErrorReason.INVALID_REFERENCE,
      `File ${requested} is a multimodal projector (mmproj), not model weights; link the model's GGUF file instead`,
      { field: 'url', repo, file: requested },
    );
  }
  if (!files.some((f) => f.path === requested)) throw fileNotFound(repo, requested);
  const split = splitInfo(requested);
  if (!split) return [files.find((f) => f.path === requested)!];
  const group = groups.find((g) => g.some((f) => f.path === requested));
  if (!group) {
    const missing = Array.from({ length: split.total }, (_, i) => partName(split.base, i + 1, split.total)).filter(
      (p) => !files.some((f) => f.path === p),
    );
    throw new RegistryError(
      RegistryErrorReason.FILE_NOT_FOUND,
      `Split GGUF ${requested} is incomplete in ${repo}: missing ${missing.join(', ')}`,
      { repo, file: requested, missing },
    );
  }
  return group;
}

function preferred(groups: RepoFile[][]): RepoFile[] {
  const rank = (group: RepoFile[]): number => {
    const quant = quantizationOf(group[0]!.path);
    const index = quant ? QUANTIZATION_PREFERENCE.indexOf(quant as (typeof QUANTIZATION_PREFERENCE)[number]) : -1;
    return index === -1 ? QUANTIZATION_PREFERENCE.length : index;
  };
  const total = (group: RepoFile[]) => group.reduce((sum, f) => sum + f.size, 0);
  return [...groups].sort(
    (a, b) => rank(a) - rank(b) || total(a) - total(b) || a[0]!.path.localeCompare(b[0]!.path),
  )[0]!;
}

function chooseProjector(
  repo: string,
  files: RepoFile[],
  chosen: RepoFile[],
  requested: string | null,
): RepoFile | null {
  if (requested !== null) {
    const found = files.find((f) => f.path === requested);
    if (!found) throw fileNotFound(repo, requested);
    return found;
  }
  const projectors = files.filter((f) => isGguf(f.path) && isProjector(f.path));
  if (projectors.length === 0) return null;
  const dir = dirname(chosen[0]!.path);
  const rank = (f: RepoFile) => {
    const index = PROJECTOR_PREFERENCE.indexOf(quantizationOf(f.path) ?? '');
    return (dirname(f.path) === dir ? 0 : 100) + (index === -1 ? PROJECTOR_PREFERENCE.length : index);
  };
  return [...projectors].sort((a, b) => rank(a) - rank(b) || a.size - b.size)[0]!;
}

function fileNotFound(repo: string, file: string): RegistryError {
  return new RegistryError(RegistryErrorReason.FILE_NOT_FOUND, `File ${file} does not exist in ${repo}`, {
    repo,
    file,
  });
}

function describe(group: RepoFile[]): string {
  return group.length === 1 ? group[0]!.path : `${group[0]!.path} (+${group.length - 1} more parts)`;
}

function partName(base: string, part: number, total: number): string {
  return `${base}-${String(part).padStart(5, '0')}-of-${String(total).padStart(5, '0')}.gguf`;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function dirname(path: string): string {
  return path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
}

function extension(path: string): string {
  const name = basename(path);
  return name.includes('.') ? name.slice(name.lastIndexOf('.')) : '';
}
