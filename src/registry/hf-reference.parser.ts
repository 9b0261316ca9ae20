import { RegistryError, RegistryErrorReason } from './registry.errors.js';

/** What a user pointed at: a repo, optionally a revision and a file inside it. */
export interface HfReference {
  repo: string;
  revision: string | null;
  filename: string | null;
}

const HUB_HOSTS = new Set(['huggingface.co', 'www.huggingface.co', 'hf.co']);
const REPO_PART = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_-])?$|^[A-Za-z0-9]$/;
const NON_MODEL_PREFIXES = new Set(['datasets', 'spaces', 'api', 'docs', 'collections', 'papers']);

/**
 * Parses `org/repo`, a repo URL (`https://huggingface.co/org/repo[/tree/<rev>]`), or a file URL
 * (`/blob/<rev>/<file>` or `/resolve/<rev>/<file>`). Hosts other than the Hub's (or HF_ENDPOINT's) are refused,
 * as is any path that would leave the repository.
 */
export function parseHfReference(input: string, hubEndpoint: string): HfReference {
  const raw = input.trim();
  if (!raw) throw invalid(input, 'is empty');
  if (/\s/.test(raw)) throw invalid(input, 'contains whitespace');

  let segments: string[];
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) || /^(www\.)?(huggingface\.co|hf\.co)\//i.test(raw)) {
    const url = parseUrl(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`, input);
    const allowed = new Set(HUB_HOSTS);
    allowed.add(new URL(hubEndpoint).host.toLowerCase());
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new RegistryError(
        RegistryErrorReason.UNSUPPORTED_HOST,
        `url: scheme "${url.protocol}" is not supported; use https`,
        {
          field: 'url',
          value: input,
        },
      );
    }
    if (!allowed.has(url.host.toLowerCase())) {
      throw new RegistryError(
        RegistryErrorReason.UNSUPPORTED_HOST,
        `url: host "${url.host}" is not the Hugging Face Hub; expected huggingface.co or ${new URL(hubEndpoint).host}`,
        { field: 'url', value: input },
      );
    }
    segments = splitPath(url.pathname, input);
  } else {
    if (raw.startsWith('/')) throw escapes(input, 'is an absolute path');
    segments = splitPath(raw, input);
  }

  const first = segments[0]?.toLowerCase();
  if (first !== undefined && NON_MODEL_PREFIXES.has(first)) {
    throw invalid(input, `points to /${first}/, not to a model repository`);
  }
  if (segments.length < 2) throw invalid(input, 'must name a repository as org/repo');
  const [org, name, kind, ...rest] = segments as [string, string, string | undefined, ...string[]];
  for (const part of [org, name]) {
    if (!REPO_PART.test(part) || part.includes('..'))
      throw invalid(input, `"${part}" is not a valid repository name part`);
  }
  const repo = `${org}/${name}`;
  if (kind === undefined) return { repo, revision: null, filename: null };

  if (kind === 'tree') {
    const revision = rest[0];
    if (!revision) throw invalid(input, 'names no revision after /tree/');
    if (rest.length > 1)
      throw invalid(input, 'points to a folder; link a .gguf file (/blob/<rev>/<file>) or the repository');
    return { repo, revision, filename: null };
  }
  if (kind === 'blob' || kind === 'resolve') {
    const [revision, ...fileParts] = rest;
    if (!revision || fileParts.length === 0) throw invalid(input, `must be /${kind}/<revision>/<file>`);
    return { repo, revision, filename: fileParts.join('/') };
  }
  throw invalid(
    input,
    `has an unexpected path segment "${kind}" after the repository (expected /blob/, /resolve/ or /tree/)`,
  );
}

function splitPath(path: string, input: string): string[] {
  const rawSegments = path.split('/').filter((s, i, all) => s !== '' || (i > 0 && i < all.length - 1));
  const segments: string[] = [];
  for (const rawSegment of rawSegments) {
    let segment: string;
    try {
      segment = decodeURIComponent(rawSegment);
    } catch {
      throw invalid(input, `has a badly encoded path segment "${rawSegment}"`);
    }
    if (segment === '') throw invalid(input, 'has an empty path segment');
    if (segment === '..' || segment === '.') throw escapes(input, `contains a "${segment}" segment`);
    if (segment.includes('\\') || segment.includes('\0')) throw escapes(input, 'contains a backslash or NUL');
    // A segment that decodes to a slash is a revision like refs/pr/1: keep it whole, but it must not escape either.
    if (segment.includes('/') && segment.split('/').some((p) => p === '..' || p === '.' || p === '')) {
      throw escapes(input, `contains an escaping segment "${segment}"`);
    }
    segments.push(segment);
  }
  return segments;
}

function parseUrl(raw: string, input: string): URL {
  // new URL() would silently resolve dot segments (also percent-encoded ones) away: refuse them before it can.
  if (/(^|\/)(\.|%2e){1,2}(\/|$|\?|#)/i.test(raw.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, ''))) {
    throw escapes(input, 'contains a ".." segment');
  }
  try {
    return new URL(raw);
  } catch {
    throw invalid(input, 'is not a valid URL');
  }
}

function invalid(input: string, why: string): RegistryError {
  return new RegistryError(RegistryErrorReason.INVALID_REFERENCE, `url "${input}" ${why}`, {
    field: 'url',
    value: input,
  });
}

function escapes(input: string, why: string): RegistryError {
  return new RegistryError(
    RegistryErrorReason.PATH_ESCAPES_REPO,
    `url "${input}" ${why}: paths must stay inside the repository`,
    {
      field: 'url',
      value: input,
    },
  );
}
