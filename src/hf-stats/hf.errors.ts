import { DomainError } from '../common/domain-error.js';

export enum HfErrorReason {
  /**
   * The Hub cannot show the repository: it does not exist, or it is private or gated and we may not see it. The Hub
   * answers 401 + RepoNotFound to anonymous requests and 404 to authenticated ones alike (huggingface_hub's
   * RepositoryNotFoundError); the message says to set HF_TOKEN.
   */
  REPO_NOT_FOUND = 'REPO_NOT_FOUND',
  REVISION_NOT_FOUND = 'REVISION_NOT_FOUND',
  ENTRY_NOT_FOUND = 'ENTRY_NOT_FOUND',
  /** The Hub rejected HF_TOKEN itself (invalid or expired): the operator must fix the control plane's configuration. */
  TOKEN_REJECTED = 'TOKEN_REJECTED',
  /** 403 that is not about gating: HF_TOKEN is valid but may not read this repository. */
  ACCESS_DENIED = 'ACCESS_DENIED',
  /** 403 GatedRepo, or 401 on a gated repo's file: the user must accept the repo's terms. */
  GATED = 'GATED',
  RATE_LIMITED = 'RATE_LIMITED',
  /** 5xx or the Hub could not be reached. */
  UPSTREAM_ERROR = 'UPSTREAM_ERROR',
  /** The Hub did not answer within HF_TIMEOUT_MS. */
  TIMEOUT = 'TIMEOUT',
  /** The Hub answered something we cannot use (unexpected status or body). */
  BAD_RESPONSE = 'BAD_RESPONSE',
  /** A value given by our caller is unusable (tampered cursor, malformed repo id, revision or file name). */
  INVALID_ARGUMENT = 'INVALID_ARGUMENT',
}

export type HfErrorDetails = {
  repo?: string;
  revision?: string;
  file?: string;
  status?: number;
  retryAfterSeconds?: number;
  /** The Hub's `X-Error-Code` header, when it sent one. */
  hubErrorCode?: string;
  /** The Hub's own message (`X-Error-Message` or the body's `error`). */
  hubMessage?: string;
  /** For INVALID_ARGUMENT: which argument was wrong. */
  field?: string;
};

export class HfError extends DomainError<HfErrorReason> {
  declare readonly details: HfErrorDetails;

  constructor(reason: HfErrorReason, message: string, details: HfErrorDetails = {}) {
    super(reason, message, details);
  }

  get retryAfterSeconds(): number | undefined {
    return this.details.retryAfterSeconds;
  }
}

/** What a request was about, so an error can say which repo, revision or file failed. */
export interface HfRequestContext {
  repo?: string;
  revision?: string;
  file?: string;
  /** Whether HF_TOKEN was sent: the same status means different things with and without it. */
  hasToken: boolean;
  /** A cursor was sent (a 400 then means the cursor is bad). */
  cursor?: boolean;
}

export interface HeaderSource {
  get(name: string): string | null;
}

/** Used when a 429 carries neither `RateLimit` nor `Retry-After`. */
export const DEFAULT_RATE_LIMIT_SECONDS = 60;

/**
 * Seconds until the Hub lets us in again, from `RateLimit: "api";r=0;t=55` (or the IETF `reset=55` form) and
 * `Retry-After` (seconds or an HTTP date); the larger when both are present, undefined when neither parses.
 */
export function parseRetryAfterSeconds(headers: HeaderSource, nowMs: number = Date.now()): number | undefined {
  const candidates: number[] = [];
  const rateLimit = headers.get('ratelimit');
  if (rateLimit) {
    const match = /(?:^|[;,\s])(?:t|reset)\s*=\s*(\d+(?:\.\d+)?)/i.exec(rateLimit);
    if (match) candidates.push(Number(match[1]));
  }
  const retryAfter = headers.get('retry-after')?.trim();
  if (retryAfter) {
    if (/^\d+(?:\.\d+)?$/.test(retryAfter)) {
      candidates.push(Number(retryAfter));
    } else {
      const at = Date.parse(retryAfter);
      if (!Number.isNaN(at)) candidates.push(Math.max(0, (at - nowMs) / 1000));
    }
  }
  if (candidates.length === 0) return undefined;
  return Math.max(1, Math.ceil(Math.max(...candidates)));
}

function describe(ctx: HfRequestContext): string {
  if (ctx.repo && ctx.file) return `${ctx.repo}/${ctx.file} at revision ${ctx.revision ?? 'main'}`;
  if (ctx.repo) return ctx.revision ? `${ctx.repo} at revision ${ctx.revision}` : ctx.repo;
  return 'the model search';
}

const INVALID_CREDENTIALS = /invalid (credentials|username or password|token)/i;

/** Turns a failed Hub response (status >= 400) into the HfError a user can act on. */
export function classifyHubResponse(
  status: number,
  headers: HeaderSource,
  ctx: HfRequestContext,
  hubMessage?: string,
  nowMs: number = Date.now(),
): HfError {
  const hubErrorCode = headers.get('x-error-code') ?? undefined;
  const base: HfErrorDetails = {
    repo: ctx.repo,
    revision: ctx.revision,
    file: ctx.file,
    status,
    hubErrorCode,
    hubMessage,
  };
  const repo = ctx.repo ?? 'the repository';
  const target = describe(ctx);

  if (status === 429) {
    const retryAfterSeconds = parseRetryAfterSeconds(headers, nowMs) ?? DEFAULT_RATE_LIMIT_SECONDS;
    const hint = ctx.hasToken ? '' : ' (setting HF_TOKEN raises the limit)';
    return new HfError(
      HfErrorReason.RATE_LIMITED,
      `The Hugging Face Hub's rate limit was reached while fetching ${target}; retry in ${retryAfterSeconds} s${hint}`,
      { ...base, retryAfterSeconds },
    );
  }
  if (hubErrorCode === 'GatedRepo' && (status === 401 || status === 403)) {
    const message = ctx.hasToken
      ? `Repository ${repo} is gated and HF_TOKEN has no access yet: accept its terms on the Hub with the token's account`
      : `Repository ${repo} is gated: accept its terms on the Hub and set HF_TOKEN`;
    return new HfError(HfErrorReason.GATED, message, base);
  }
  if (status === 401) {
    if (ctx.hasToken && (hubErrorCode === undefined || INVALID_CREDENTIALS.test(hubMessage ?? ''))) {
      return new HfError(
        HfErrorReason.TOKEN_REJECTED,
        'The Hub rejected HF_TOKEN (invalid or expired); set a valid HF_TOKEN',
        base,
      );
    }
    // The Hub answers 401 for a missing repository and for one we may not see alike (huggingface_hub reads it as
    // RepositoryNotFoundError): not found, with the hint, never "unauthenticated" (that is llmfleet's own auth).
    return repoNotFound(repo, ctx, base);
  }
  if (status === 403) {
    const message = ctx.hasToken
      ? `HF_TOKEN is not allowed to read ${repo}; use a token with read access to it`
      : `The Hub refused access to ${repo}; if it is private or gated set HF_TOKEN`;
    return new HfError(HfErrorReason.ACCESS_DENIED, message, base);
  }
  if (status === 404) {
    if (hubErrorCode === 'RevisionNotFound') {
      return new HfError(
        HfErrorReason.REVISION_NOT_FOUND,
        `Revision ${ctx.revision ?? '(default)'} does not exist in ${repo}; use a branch, tag or commit sha that exists`,
        base,
      );
    }
    if (hubErrorCode === 'EntryNotFound' || (hubErrorCode === undefined && ctx.file)) {
      return new HfError(
        HfErrorReason.ENTRY_NOT_FOUND,
        `File ${ctx.file ?? '(unknown)'} does not exist in ${repo} at revision ${ctx.revision ?? 'main'}; check the file name`,
        base,
      );
    }
    return repoNotFound(repo, ctx, base);
  }
  if (status === 400 && ctx.cursor) {
    return new HfError(
      HfErrorReason.INVALID_ARGUMENT,
      'The Hub refused the cursor (it may have expired); start again without a cursor',
      { ...base, field: 'cursor' },
    );
  }
  if (status >= 500 || status === 408) {
    return new HfError(
      HfErrorReason.UPSTREAM_ERROR,
      `The Hugging Face Hub answered ${status} for ${target}; it is having trouble, retry later`,
      base,
    );
  }
  const said = hubMessage ? `: ${hubMessage}` : '';
  return new HfError(HfErrorReason.BAD_RESPONSE, `The Hugging Face Hub answered ${status} for ${target}${said}`, base);
}

function repoNotFound(repo: string, ctx: HfRequestContext, details: HfErrorDetails): HfError {
  const hint = ctx.hasToken
    ? 'or HF_TOKEN may not read it (private or gated): check the name and the token'
    : 'or it is private or gated: set HF_TOKEN';
  return new HfError(
    HfErrorReason.REPO_NOT_FOUND,
    `Repository ${repo} was not found on the Hugging Face Hub (check the name), ${hint}`,
    details,
  );
}
