import { describe, expect, it } from '@jest/globals';
import {
  clampSearchLimit,
  decodeSearchCursor,
  encodeSearchCursor,
  parseNextLink,
} from '../../src/hf-stats/hf-hub.client.js';
import {
  classifyHubResponse,
  DEFAULT_RATE_LIMIT_SECONDS,
  HfError,
  HfErrorReason,
  parseRetryAfterSeconds,
  type HfRequestContext,
} from '../../src/hf-stats/hf.errors.js';

const headers = (values: Record<string, string>): Headers => new Headers(values);
const anonymous: HfRequestContext = { repo: 'org/x', hasToken: false };
const withToken: HfRequestContext = { repo: 'org/x', hasToken: true };
const fileCtx: HfRequestContext = { repo: 'org/x', revision: 'main', file: 'model.gguf', hasToken: false };

describe('parseRetryAfterSeconds', () => {
  const now = Date.parse('2026-11-01T12:00:00Z');

  it('reads t= from the Hub RateLimit header', () => {
    expect(parseRetryAfterSeconds(headers({ RateLimit: '"api";r=0;t=55' }), now)).toBe(55);
  });

  it('reads the IETF reset= form', () => {
    expect(parseRetryAfterSeconds(headers({ RateLimit: 'limit=500, remaining=0, reset=12' }), now)).toBe(12);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfterSeconds(headers({ 'Retry-After': '30' }), now)).toBe(30);
    expect(parseRetryAfterSeconds(headers({ 'Retry-After': 'Sun, 01 Nov 2026 12:01:30 GMT' }), now)).toBe(90);
  });

  it('takes the later of the two when both are present', () => {
    expect(parseRetryAfterSeconds(headers({ RateLimit: '"api";r=0;t=20', 'Retry-After': '45' }), now)).toBe(45);
  });

  it('rounds up and never says 0 s', () => {
    expect(parseRetryAfterSeconds(headers({ 'Retry-After': '0.2' }), now)).toBe(1);
  });

  it('is undefined when nothing parses', () => {
    expect(parseRetryAfterSeconds(headers({ RateLimit: '"api";r=0', 'Retry-After': 'soon' }), now)).toBeUndefined();
    expect(parseRetryAfterSeconds(headers({}), now)).toBeUndefined();
  });
});

describe('classifyHubResponse', () => {
  const classify = (status: number, h: Record<string, string>, ctx: HfRequestContext, message?: string): HfError =>
    classifyHubResponse(status, headers(h), ctx, message);

  it('404 codes map to the matching not-found reasons', () => {
    expect(classify(404, { 'X-Error-Code': 'RepoNotFound' }, withToken).reason).toBe(HfErrorReason.REPO_NOT_FOUND);
    const revision = classify(404, { 'X-Error-Code': 'RevisionNotFound' }, { ...withToken, revision: 'v9' });
    expect(revision.reason).toBe(HfErrorReason.REVISION_NOT_FOUND);
    expect(revision.message).toContain('Revision v9 does not exist in org/x');
    const entry = classify(404, { 'X-Error-Code': 'EntryNotFound' }, fileCtx);
    expect(entry.reason).toBe(HfErrorReason.ENTRY_NOT_FOUND);
    expect(entry.message).toContain('File model.gguf does not exist in org/x');
  });

  it('a 404 without a code is about the file when there is one, else the repo', () => {
    expect(classify(404, {}, fileCtx).reason).toBe(HfErrorReason.ENTRY_NOT_FOUND);
    expect(classify(404, {}, anonymous).reason).toBe(HfErrorReason.REPO_NOT_FOUND);
  });

  it('401 + RepoNotFound without a token is REPO_NOT_FOUND with the hint to set HF_TOKEN (as huggingface_hub reads it)', () => {
    const err = classify(401, { 'X-Error-Code': 'RepoNotFound' }, anonymous, 'Repository not found');
    expect(err.reason).toBe(HfErrorReason.REPO_NOT_FOUND);
    expect(err.message).toBe(
      'Repository org/x was not found on the Hugging Face Hub (check the name), or it is private or gated: set HF_TOKEN',
    );
    expect(err.details).toMatchObject({ repo: 'org/x', status: 401, hubErrorCode: 'RepoNotFound' });
    expect(classify(401, {}, anonymous).reason).toBe(HfErrorReason.REPO_NOT_FOUND);
  });

  it('a missing repo with a token says the token may not read it', () => {
    const err = classify(404, { 'X-Error-Code': 'RepoNotFound' }, withToken);
    expect(err.reason).toBe(HfErrorReason.REPO_NOT_FOUND);
    expect(err.message).toMatch(/or HF_TOKEN may not read it \(private or gated\)/);
    expect(classify(401, { 'X-Error-Code': 'RepoNotFound' }, withToken).reason).toBe(HfErrorReason.REPO_NOT_FOUND);
  });

  it('401 with a rejected token is TOKEN_REJECTED and says to fix HF_TOKEN', () => {
    const err = classify(401, {}, withToken, 'Invalid credentials in Authorization header');
    expect(err.reason).toBe(HfErrorReason.TOKEN_REJECTED);
    expect(err.message).toContain('rejected HF_TOKEN');
  });

  it('GatedRepo on 401 or 403 is GATED and says to accept the terms', () => {
    const anon = classify(401, { 'X-Error-Code': 'GatedRepo' }, fileCtx);
    expect(anon.reason).toBe(HfErrorReason.GATED);
    expect(anon.message).toBe('Repository org/x is gated: accept its terms on the Hub and set HF_TOKEN');
    const user = classify(403, { 'X-Error-Code': 'GatedRepo' }, { ...fileCtx, hasToken: true });
    expect(user.reason).toBe(HfErrorReason.GATED);
    expect(user.message).toContain('accept its terms');
  });

  it('a 403 that is not about gating is ACCESS_DENIED', () => {
    expect(classify(403, {}, withToken).reason).toBe(HfErrorReason.ACCESS_DENIED);
  });

  it('429 carries retryAfterSeconds and says when to retry', () => {
    const err = classify(429, { RateLimit: '"api";r=0;t=42' }, anonymous);
    expect(err.reason).toBe(HfErrorReason.RATE_LIMITED);
    expect(err.retryAfterSeconds).toBe(42);
    expect(err.message).toContain('retry in 42 s');
    expect(err.message).toContain('HF_TOKEN');
    expect(classify(429, {}, withToken).retryAfterSeconds).toBe(DEFAULT_RATE_LIMIT_SECONDS);
  });

  it('5xx and 408 are UPSTREAM_ERROR; other statuses are BAD_RESPONSE', () => {
    expect(classify(500, {}, anonymous).reason).toBe(HfErrorReason.UPSTREAM_ERROR);
    expect(classify(503, {}, anonymous).reason).toBe(HfErrorReason.UPSTREAM_ERROR);
    expect(classify(408, {}, anonymous).reason).toBe(HfErrorReason.UPSTREAM_ERROR);
    const bad = classify(400, {}, anonymous, '"expand" must be one of ...');
    expect(bad.reason).toBe(HfErrorReason.BAD_RESPONSE);
    expect(bad.message).toContain('"expand" must be one of');
  });

  it('a 400 to a request with a cursor blames the cursor', () => {
    const err = classify(400, {}, { hasToken: false, cursor: true });
    expect(err.reason).toBe(HfErrorReason.INVALID_ARGUMENT);
    expect(err.details.field).toBe('cursor');
  });

  it('is an HfError with its name set', () => {
    const err = classify(500, {}, anonymous);
    expect(err).toBeInstanceOf(HfError);
    expect(err.name).toBe('HfError');
  });
});

describe('search paging helpers', () => {
  it('parseNextLink finds rel="next" among several links', () => {
    const link = '<https://hub/api/models?cursor=a>; rel="prev", <https://hub/api/models?cursor=b&limit=3>; rel="next"';
    expect(parseNextLink(link)).toBe('https://hub/api/models?cursor=b&limit=3');
    expect(parseNextLink('<https://hub/x>; rel=next')).toBe('https://hub/x');
    expect(parseNextLink('<https://hub/x>; rel="prev"')).toBeNull();
    expect(parseNextLink(null)).toBeNull();
  });

  it('a cursor keeps only the query of the next link', () => {
    const cursor = encodeSearchCursor(
      'https://elsewhere.example/api/models?filter=gguf&cursor=abc&limit=3',
      'https://hub',
    );
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    const params = decodeSearchCursor(cursor);
    expect(params.get('cursor')).toBe('abc');
    expect(params.get('limit')).toBe('3');
  });

  it.each([
    ['not base64url', 'a cursor!'],
    ['empty', ''],
    ['a URL to another host', Buffer.from('https://evil.example/api/models?cursor=x').toString('base64url')],
    ['no cursor parameter', Buffer.from('filter=gguf&limit=3').toString('base64url')],
    ['an unknown sort', Buffer.from('cursor=x&sort=$where').toString('base64url')],
    ['too long', 'a'.repeat(5000)],
  ])('rejects a cursor that is %s', (_what, cursor) => {
    expect(() => decodeSearchCursor(cursor)).toThrow(HfError);
    try {
      decodeSearchCursor(cursor);
    } catch (err) {
      expect((err as HfError).reason).toBe(HfErrorReason.INVALID_ARGUMENT);
      expect((err as HfError).details.field).toBe('cursor');
    }
  });

  it('clamps the page size to 1..100 with 20 by default', () => {
    expect(clampSearchLimit(undefined)).toBe(20);
    expect(clampSearchLimit(0)).toBe(1);
    expect(clampSearchLimit(500)).toBe(100);
    expect(clampSearchLimit(7.9)).toBe(7);
    expect(clampSearchLimit(Number.NaN)).toBe(20);
  });
});
