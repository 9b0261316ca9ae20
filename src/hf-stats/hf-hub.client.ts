import { Inject, Injectable } from '@nestjs/common';
import { z } from 'zod';
import { hubPathProblem } from '../shared/hub-path.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { classifyHubResponse, HfError, HfErrorReason, type HfRequestContext } from './hf.errors.js';
import {
  HF_SORTS,
  type HfFile,
  type HfGgufSummary,
  type HfModelInfo,
  type HfSearchItem,
  type HfSearchOptions,
  type HfSearchPage,
  type HfSort,
} from './hf.types.js';

/** The Hub limits API calls and file resolves in separate buckets, so a 429 on one must not block the other. */
type RateBucket = 'api' | 'resolvers';

interface HubRequest {
  url: string;
  method: 'GET' | 'HEAD';
  bucket: RateBucket;
  ctx: HfRequestContext;
  redirect: 'follow' | 'manual';
}

export const SEARCH_LIMIT_DEFAULT = 20;
export const SEARCH_LIMIT_MAX = 100;
/** Expand names the Hub accepts (huggingface_hub's ExpandModelProperty_T); with `expand` it returns only these plus `_id`/`id`. */
const SEARCH_EXPAND = ['downloads', 'likes', 'lastModified', 'tags', 'pipeline_tag', 'gguf'] as const;
const MAX_CURSOR_LENGTH = 4096;

const REPO_ID = /^(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,95}\/)?[A-Za-z0-9_][A-Za-z0-9_.-]{0,95}$/;

const ggufSchema = z
  .object({
    total: z.number().nullish(),
    architecture: z.string().nullish(),
    context_length: z.number().nullish(),
  })
  .nullish();

/** What the Hub says of a repo's popularity and kind, in model info and search results alike. */
const popularityFields = {
  downloads: z.number().nullish(),
  likes: z.number().nullish(),
  lastModified: z.string().nullish(),
  tags: z.array(z.string()).nullish(),
  pipeline_tag: z.string().nullish(),
  gguf: ggufSchema,
};

const modelInfoSchema = z.object({
  id: z.string().min(1),
  sha: z.string().regex(/^[0-9a-f]{40}$/, 'sha must be a 40-hex commit id'),
  // A gating mode we do not know yet is still gating.
  gated: z
    .union([z.literal(false), z.literal('auto'), z.literal('manual')])
    .nullish()
    .catch('manual'),
  private: z.boolean().nullish(),
  ...popularityFields,
  siblings: z
    .array(
      z.object({
        rfilename: z.string().min(1),
        size: z.number().nullish(),
        lfs: z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), size: z.number() }).nullish(),
      }),
    )
    .nullish(),
});

const searchItemSchema = z.object({ id: z.string().min(1), ...popularityFields });

function toDate(value: string | null | undefined): Date | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

function toGguf(gguf: z.infer<typeof ggufSchema>): HfGgufSummary | null {
  if (!gguf) return null;
  return {
    total: gguf.total ?? null,
    architecture: gguf.architecture ?? null,
    contextLength: gguf.context_length ?? null,
  };
}

function isHfSort(value: string): value is HfSort {
  return (HF_SORTS as readonly string[]).includes(value);
}

function hasControlChars(value: string): boolean {
  return [...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
}

function invalidArgument(field: string, value: string, why: string): HfError {
  return new HfError(HfErrorReason.INVALID_ARGUMENT, `${field} ${JSON.stringify(value)} ${why}`, { field });
}

export function assertRepoId(repo: string): void {
  if (!REPO_ID.test(repo) || repo.includes('..')) {
    throw invalidArgument('repo', repo, 'is not a Hugging Face repo id (expected org/name)');
  }
}

function assertRevision(revision: string): void {
  if (revision.length === 0 || revision.length > 255 || hasControlChars(revision)) {
    throw invalidArgument('revision', revision, 'is not a valid revision (a branch, tag or commit sha)');
  }
}

function fileSegments(filename: string): string[] {
  const problem = hubPathProblem(filename);
  if (problem) throw invalidArgument('file', filename, `is not a valid path inside a repo: ${problem}`);
  return filename.split('/');
}

export function clampSearchLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return SEARCH_LIMIT_DEFAULT;
  return Math.min(SEARCH_LIMIT_MAX, Math.max(1, Math.trunc(limit)));
}

/** The `rel="next"` target of a `Link` header, or null. */
export function parseNextLink(link: string | null): string | null {
  if (!link) return null;
  for (const part of link.split(/,(?=\s*<)/)) {
    const match = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (match && /(?:^|;)\s*rel\s*=\s*"?(?:[^";]*\s)?next(?:\s[^";]*)?"?\s*(?:;|$)/i.test(match[2] ?? ''))
      return match[1] ?? null;
  }
  return null;
}

/**
 * Our cursor is the query string of the Hub's next link, base64url-encoded. Only the query travels: the host and path
 * are always HF_ENDPOINT's /api/models, so a client cannot make us fetch anything else.
 */
export function encodeSearchCursor(nextLink: string, base: string): string {
  const query = new URL(nextLink, base).search.replace(/^\?/, '');
  return Buffer.from(query, 'utf8').toString('base64url');
}

export function decodeSearchCursor(cursor: string): URLSearchParams {
  const reject = (): HfError =>
    invalidArgument('cursor', cursor.slice(0, 64), 'is not a cursor from a previous page; start again without one');
  if (cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw reject();
  const query = Buffer.from(cursor, 'base64url').toString('utf8');
  if (hasControlChars(query) || query.includes('://')) throw reject();
  const params = new URLSearchParams(query);
  if (!params.get('cursor')) throw reject();
  const sort = params.get('sort');
  if (sort !== null && !isHfSort(sort)) throw reject();
  return params;
}

@Injectable()
export class HfHubClient {
  private readonly endpoint: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private calls = 0;
  private readonly cooldownUntil = new Map<RateBucket, number>();

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.endpoint = config.HF_ENDPOINT;
    this.token = config.HF_TOKEN;
    this.timeoutMs = config.HF_TIMEOUT_MS;
  }

  /** HTTP requests actually sent to the Hub (calls refused during a rate-limit cooldown are not counted). */
  get upstreamCalls(): number {
    return this.calls;
  }

  /** Metadata and file list (with LFS sha256) of a model repo; `sha` is the commit to pin. */
  async modelInfo(repo: string, revision?: string): Promise<HfModelInfo> {
    assertRepoId(repo);
    if (revision !== undefined) assertRevision(revision);
    const rev = revision === undefined ? '' : `/revision/${encodeURIComponent(revision)}`;
    const ctx: HfRequestContext = { repo, revision, hasToken: this.token !== undefined };
    const body = await this.getJson({
      url: `${this.endpoint}/api/models/${repo}${rev}?blobs=true`,
      method: 'GET',
      bucket: 'api',
      ctx,
      redirect: 'follow',
    });
    const parsed = modelInfoSchema.safeParse(body);
    if (!parsed.success) throw this.badResponse(ctx, parsed.error.issues[0]?.message ?? 'unexpected model info');
    const data = parsed.data;
    const files: HfFile[] = [];
    for (const sibling of data.siblings ?? []) {
      // Checked before anything uses it: it becomes a Hub URL and a path under every node's MODELS_DIR.
      const problem = hubPathProblem(sibling.rfilename);
      if (problem) {
        throw this.badResponse(ctx, `it lists an unsafe file name ${JSON.stringify(sibling.rfilename)} (${problem})`);
      }
      const size = sibling.lfs?.size ?? sibling.size;
      if (size === undefined || size === null) throw this.badResponse(ctx, `no size for ${sibling.rfilename}`);
      files.push({ path: sibling.rfilename, size, sha256: sibling.lfs?.sha256 ?? null });
    }
    return {
      id: data.id,
      sha: data.sha,
      gated: data.gated ?? false,
      private: data.private ?? false,
      downloads: data.downloads ?? 0,
      likes: data.likes ?? 0,
      lastModified: toDate(data.lastModified),
      tags: data.tags ?? [],
      pipelineTag: data.pipeline_tag ?? null,
      gguf: toGguf(data.gguf),
      files,
    };
  }

  /** One page of GGUF repos on the Hub. */
  async searchGguf(opts: HfSearchOptions = {}): Promise<HfSearchPage> {
    let params: URLSearchParams;
    if (opts.cursor) {
      params = decodeSearchCursor(opts.cursor);
      params.set('limit', String(clampSearchLimit(Number(params.get('limit') ?? SEARCH_LIMIT_DEFAULT))));
    } else {
      if (opts.sort !== undefined && !isHfSort(opts.sort)) {
        throw invalidArgument('sort', String(opts.sort), `is not one of ${HF_SORTS.join(', ')}`);
      }
      params = new URLSearchParams();
      const search = opts.search?.trim();
      if (search) params.set('search', search);
      if (opts.sort) {
        params.set('sort', opts.sort);
        params.set('direction', '-1');
      }
      params.set('limit', String(clampSearchLimit(opts.limit)));
    }
    // Whatever a cursor says, we only ever list GGUF repos with the fields we map.
    params.set('filter', 'gguf');
    params.delete('expand');
    params.delete('expand[]');
    for (const field of SEARCH_EXPAND) params.append('expand', field);

    const ctx: HfRequestContext = { hasToken: this.token !== undefined, cursor: Boolean(opts.cursor) };
    const res = await this.send({
      url: `${this.endpoint}/api/models?${params.toString()}`,
      method: 'GET',
      bucket: 'api',
      ctx,
      redirect: 'follow',
    });
    const body = await this.readJson(res, ctx);
    const parsed = z.array(searchItemSchema).safeParse(body);
    if (!parsed.success) throw this.badResponse(ctx, parsed.error.issues[0]?.message ?? 'unexpected search result');
    const items: HfSearchItem[] = parsed.data.map((item) => ({
      id: item.id,
      downloads: item.downloads ?? 0,
      likes: item.likes ?? 0,
      lastModified: toDate(item.lastModified),
      tags: item.tags ?? [],
      pipelineTag: item.pipeline_tag ?? null,
      gguf: toGguf(item.gguf),
    }));
    const next = parseNextLink(res.headers.get('link'));
    return { items, nextCursor: next ? encodeSearchCursor(next, this.endpoint) : null };
  }

  /** Resolves without downloading: succeeds when this token may download the file (gated repos included). */
  async checkFileAccess(repo: string, revision: string, filename: string): Promise<void> {
    const url = this.fileUrl(repo, revision, filename);
    const res = await this.send({
      url,
      method: 'HEAD',
      bucket: 'resolvers',
      ctx: { repo, revision, file: filename, hasToken: this.token !== undefined },
      redirect: 'manual',
    });
    await res.body?.cancel().catch(() => undefined);
  }

  fileUrl(repo: string, revision: string, filename: string): string {
    assertRepoId(repo);
    assertRevision(revision);
    const path = fileSegments(filename).map(encodeURIComponent).join('/');
    return `${this.endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${path}`;
  }

  private async getJson(request: HubRequest): Promise<unknown> {
    const res = await this.send(request);
    return this.readJson(res, request.ctx);
  }

  private async readJson(res: Response, ctx: HfRequestContext): Promise<unknown> {
    try {
      return await res.json();
    } catch (err) {
      if (isTimeout(err)) throw this.timeout(ctx);
      throw this.badResponse(ctx, 'the body is not JSON');
    }
  }

  private async send(request: HubRequest): Promise<Response> {
    const { ctx, bucket } = request;
    const until = this.cooldownUntil.get(bucket) ?? 0;
    const now = Date.now();
    if (now < until) {
      const retryAfterSeconds = Math.max(1, Math.ceil((until - now) / 1000));
      throw new HfError(
        HfErrorReason.RATE_LIMITED,
        `The Hugging Face Hub's rate limit was reached; retry in ${retryAfterSeconds} s`,
        { repo: ctx.repo, revision: ctx.revision, file: ctx.file, retryAfterSeconds },
      );
    }
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'llmfleet' };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    this.calls += 1;
    let res: Response;
    try {
      res = await fetch(request.url, {
        method: request.method,
        headers,
        redirect: request.redirect,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      if (isTimeout(err)) throw this.timeout(ctx);
      const cause = errorCause(err);
      throw new HfError(
        HfErrorReason.UPSTREAM_ERROR,
        `Could not reach the Hugging Face Hub at ${this.endpoint} (${cause}); check network access and HF_ENDPOINT`,
        { repo: ctx.repo, revision: ctx.revision, file: ctx.file },
      );
    }
    if (res.status < 400) return res;

    const hubMessage = res.headers.get('x-error-message') ?? (await readErrorMessage(res));
    const error = classifyHubResponse(res.status, res.headers, ctx, hubMessage);
    if (error.reason === HfErrorReason.RATE_LIMITED) {
      this.cooldownUntil.set(bucket, Date.now() + (error.retryAfterSeconds ?? 0) * 1000);
    }
    throw error;
  }

  private timeout(ctx: HfRequestContext): HfError {
    const what = ctx.repo ? ctx.repo : 'the model search';
    return new HfError(
      HfErrorReason.TIMEOUT,
      `The Hugging Face Hub did not answer within ${this.timeoutMs} ms for ${what}; retry later or raise HF_TIMEOUT_MS`,
      { repo: ctx.repo, revision: ctx.revision, file: ctx.file },
    );
  }

  private badResponse(ctx: HfRequestContext, why: string): HfError {
    const what = ctx.repo ? ctx.repo : 'the model search';
    return new HfError(
      HfErrorReason.BAD_RESPONSE,
      `The Hugging Face Hub sent an unexpected answer for ${what}: ${why}`,
      {
        repo: ctx.repo,
        revision: ctx.revision,
        file: ctx.file,
      },
    );
  }
}

// Duck-typed: fetch's errors may come from another realm (jest's VM contexts), where instanceof Error fails.
function isTimeout(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    'name' in err &&
    (err.name === 'TimeoutError' || err.name === 'AbortError')
  );
}

function errorCause(err: unknown): string {
  const cause = typeof err === 'object' && err !== null && 'cause' in err ? err.cause : err;
  if (typeof cause === 'object' && cause !== null && 'message' in cause && typeof cause.message === 'string') {
    return cause.message;
  }
  return String(cause);
}

async function readErrorMessage(res: Response): Promise<string | undefined> {
  try {
    const text = await res.text();
    const body: unknown = JSON.parse(text);
    if (typeof body === 'object' && body !== null && 'error' in body && typeof body.error === 'string')
      return body.error;
    return undefined;
  } catch {
    return undefined;
  }
}
