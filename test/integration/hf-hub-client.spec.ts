import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { parseAppConfig, type AppConfig } from '../../src/config/app-config.js';
import { ConfigModule } from '../../src/config/config.module.js';
import { HfHubClient } from '../../src/hf-stats/hf-hub.client.js';
import { HfStatsModule } from '../../src/hf-stats/hf-stats.module.js';
import { HfStatsService } from '../../src/hf-stats/hf-stats.service.js';
import { HfError, HfErrorReason } from '../../src/hf-stats/hf.errors.js';
import { FakeHub, type FakeRepoInput } from '../support/fake-hub.js';

let hub: FakeHub;
let unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

beforeAll(async () => {
  hub = await FakeHub.start();
  hub.setToken('grant-token');
  hub.addUserToken('user-token');
  process.on('unhandledRejection', onUnhandled);
});

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await hub.stop();
});

beforeEach(() => {
  hub.reset();
  unhandled = [];
});

afterEach(() => {
  expect(unhandled).toEqual([]);
});

function config(env: Record<string, string> = {}): AppConfig {
  return parseAppConfig({ HF_ENDPOINT: hub.url, HF_TIMEOUT_MS: '2000', ...env });
}

/** GGUF-looking bytes, different per seed. */
function ggufBytes(seed: string, size = 4096): Buffer {
  const out = Buffer.alloc(size);
  out.write('GGUF', 0);
  let block = createHash('sha256').update(seed).digest();
  for (let offset = 4; offset < size; offset += block.length) {
    block.copy(out, offset);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

function ggufRepo(id: string, extra: Partial<FakeRepoInput> = {}): FakeRepoInput {
  return {
    id,
    files: [
      { path: 'model-Q4_K_M.gguf', content: ggufBytes(id) },
      { path: 'README.md', content: Buffer.from(`# ${id}\n`) },
    ],
    downloads: 100,
    likes: 5,
    ...extra,
  };
}

async function failure(promise: Promise<unknown>): Promise<HfError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof HfError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe('HfHubClient.modelInfo', () => {
  it('returns the pinned commit, stats and files with the LFS sha256', async () => {
    const input = ggufRepo('info-org/tiny-GGUF', {
      lastModified: new Date('2026-10-01T00:00:00Z'),
      gguf: { total: 1_234_567, architecture: 'llama', contextLength: 4096 },
    });
    const added = hub.addRepo(input);
    const client = new HfHubClient(config());

    const info = await client.modelInfo('info-org/tiny-GGUF');

    expect(info).toMatchObject({
      id: 'info-org/tiny-GGUF',
      sha: added.sha,
      gated: false,
      private: false,
      downloads: 100,
      likes: 5,
      pipelineTag: 'text-generation',
      gguf: { total: 1_234_567, architecture: 'llama', contextLength: 4096 },
    });
    expect(info.sha).toMatch(/^[0-9a-f]{40}$/);
    expect(info.lastModified).toEqual(new Date('2026-10-01T00:00:00Z'));
    expect(info.tags).toContain('gguf');
    expect(info.files).toEqual([
      { path: 'model-Q4_K_M.gguf', size: 4096, sha256: sha256(input.files[0]!.content) },
      { path: 'README.md', size: input.files[1]!.content.length, sha256: null },
    ]);
    expect(client.upstreamCalls).toBe(1);
  });

  it('pins a revision: an older commit still answers with its own files', async () => {
    const v1 = hub.addRepo(ggufRepo('pin-org/model'));
    const v2Content = ggufBytes('v2');
    const v2 = hub.addRepo({
      ...ggufRepo('pin-org/model'),
      files: [{ path: 'model-Q4_K_M.gguf', content: v2Content }],
    });
    expect(v2.sha).not.toBe(v1.sha);
    const client = new HfHubClient(config());

    const latest = await client.modelInfo('pin-org/model');
    const main = await client.modelInfo('pin-org/model', 'main');
    const pinned = await client.modelInfo('pin-org/model', v1.sha);

    expect(latest.sha).toBe(v2.sha);
    expect(latest.files[0]!.sha256).toBe(sha256(v2Content));
    expect(main.sha).toBe(v2.sha);
    expect(pinned.sha).toBe(v1.sha);
    expect(pinned.files[0]!.sha256).toBe(v1.files[0]!.sha256);
  });

  it('an unknown revision is REVISION_NOT_FOUND, slashes encoded', async () => {
    hub.addRepo(ggufRepo('pin-org/other'));
    const client = new HfHubClient(config());

    const err = await failure(client.modelInfo('pin-org/other', 'refs/pr/1'));

    expect(err.reason).toBe(HfErrorReason.REVISION_NOT_FOUND);
    expect(err.message).toContain('Revision refs/pr/1 does not exist in pin-org/other');
    expect(hub.requests.at(-1)?.path).toBe('/api/models/pin-org/other/revision/refs%2Fpr%2F1');
  });

  it('refuses a malformed repo id without calling the Hub', async () => {
    const client = new HfHubClient(config());
    for (const repo of ['../etc/passwd', 'a/b/c', 'org/..', '']) {
      expect((await failure(client.modelInfo(repo))).reason).toBe(HfErrorReason.INVALID_ARGUMENT);
    }
    expect(client.upstreamCalls).toBe(0);
  });
});

describe('HfHubClient access errors', () => {
  beforeAll(() => {
    hub.addRepo(ggufRepo('acl-org/private', { private: true }));
    hub.addRepo(ggufRepo('acl-org/gated', { gated: 'manual' }));
    hub.addRepo(ggufRepo('acl-org/public'));
  });

  it('a missing repo is REPO_NOT_FOUND, anonymously (401 RepoNotFound) with the HF_TOKEN hint, and with a token', async () => {
    const anonymous = await failure(new HfHubClient(config()).modelInfo('acl-org/nope'));
    expect(anonymous.reason).toBe(HfErrorReason.REPO_NOT_FOUND);
    expect(anonymous.message).toBe(
      'Repository acl-org/nope was not found on the Hugging Face Hub (check the name), or it is private or gated: set HF_TOKEN',
    );
    expect(anonymous.details).toMatchObject({ status: 401, hubErrorCode: 'RepoNotFound' });

    const authenticated = await failure(new HfHubClient(config({ HF_TOKEN: 'user-token' })).modelInfo('acl-org/nope'));
    expect(authenticated.reason).toBe(HfErrorReason.REPO_NOT_FOUND);
    expect(authenticated.details).toMatchObject({ repo: 'acl-org/nope', status: 404, hubErrorCode: 'RepoNotFound' });
  });

  it('a private repo needs the right token', async () => {
    expect((await failure(new HfHubClient(config()).modelInfo('acl-org/private'))).reason).toBe(
      HfErrorReason.REPO_NOT_FOUND,
    );
    const info = await new HfHubClient(config({ HF_TOKEN: 'grant-token' })).modelInfo('acl-org/private');
    expect(info.private).toBe(true);
  });

  it('a token the Hub does not know is TOKEN_REJECTED and says to fix HF_TOKEN', async () => {
    const err = await failure(new HfHubClient(config({ HF_TOKEN: 'typo' })).modelInfo('acl-org/public'));
    expect(err.reason).toBe(HfErrorReason.TOKEN_REJECTED);
    expect(err.message).toContain('rejected HF_TOKEN');
  });

  it('a gated repo: metadata is public, its files are GATED until the terms are accepted', async () => {
    const anonymous = new HfHubClient(config());
    const info = await anonymous.modelInfo('acl-org/gated');
    expect(info.gated).toBe('manual');

    const err = await failure(anonymous.checkFileAccess('acl-org/gated', info.sha, 'model-Q4_K_M.gguf'));
    expect(err.reason).toBe(HfErrorReason.GATED);
    expect(err.message).toBe('Repository acl-org/gated is gated: accept its terms on the Hub and set HF_TOKEN');
    expect(err.details.status).toBe(401);

    const user = await failure(
      new HfHubClient(config({ HF_TOKEN: 'user-token' })).checkFileAccess(
        'acl-org/gated',
        info.sha,
        'model-Q4_K_M.gguf',
      ),
    );
    expect(user.reason).toBe(HfErrorReason.GATED);
    expect(user.details.status).toBe(403);

    const granted = new HfHubClient(config({ HF_TOKEN: 'grant-token' }));
    await expect(granted.checkFileAccess('acl-org/gated', info.sha, 'model-Q4_K_M.gguf')).resolves.toBeUndefined();
  });

  it('checkFileAccess: LFS (302) and git (200) files pass without touching the CDN; missing ones fail', async () => {
    const client = new HfHubClient(config());
    const cdnBefore = hub.count('cdn');
    await client.checkFileAccess('acl-org/public', 'main', 'model-Q4_K_M.gguf');
    await client.checkFileAccess('acl-org/public', 'main', 'README.md');
    expect(hub.count('cdn')).toBe(cdnBefore);
    expect(hub.requests.at(-2)).toMatchObject({ method: 'HEAD', route: 'resolve', status: 302 });

    const entry = await failure(client.checkFileAccess('acl-org/public', 'main', 'nope.gguf'));
    expect(entry.reason).toBe(HfErrorReason.ENTRY_NOT_FOUND);
    expect(entry.message).toContain('File nope.gguf does not exist in acl-org/public');
    const revision = await failure(client.checkFileAccess('acl-org/public', 'v9', 'README.md'));
    expect(revision.reason).toBe(HfErrorReason.REVISION_NOT_FOUND);
  });

  it('fileUrl encodes the revision and each path segment', () => {
    const client = new HfHubClient(config());
    expect(client.fileUrl('org/x', 'refs/pr/1', 'dir/my file#1.gguf')).toBe(
      `${hub.url}/org/x/resolve/refs%2Fpr%2F1/dir/my%20file%231.gguf`,
    );
    expect(() => client.fileUrl('org/x', 'main', '../secret')).toThrow(HfError);
  });
});

describe('HfHubClient upstream failures', () => {
  beforeAll(() => {
    hub.addRepo(ggufRepo('fail-org/a'));
    hub.addRepo(ggufRepo('fail-org/b'));
  });

  it('a 5xx is UPSTREAM_ERROR and the next call goes through', async () => {
    const client = new HfHubClient(config());
    hub.fail({ route: 'api', repo: 'fail-org/a', status: 500, times: 1 });
    const err = await failure(client.modelInfo('fail-org/a'));
    expect(err.reason).toBe(HfErrorReason.UPSTREAM_ERROR);
    expect(err.message).toContain('answered 500');
    await expect(client.modelInfo('fail-org/a')).resolves.toMatchObject({ id: 'fail-org/a' });

    hub.fail({ route: 'api', status: 503, times: 1 });
    expect((await failure(client.searchGguf({}))).reason).toBe(HfErrorReason.UPSTREAM_ERROR);
  });

  it('a stalled Hub is TIMEOUT after HF_TIMEOUT_MS', async () => {
    const client = new HfHubClient(config({ HF_TIMEOUT_MS: '300' }));
    hub.delay({ route: 'api', repo: 'fail-org/a', ms: 3000, times: 1 });
    const started = Date.now();
    const err = await failure(client.modelInfo('fail-org/a'));
    expect(err.reason).toBe(HfErrorReason.TIMEOUT);
    expect(err.message).toContain('300 ms');
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('an unreachable Hub is UPSTREAM_ERROR naming HF_ENDPOINT', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const address = probe.address();
        probe.close(() => resolve(typeof address === 'object' && address ? address.port : 1));
      });
    });
    const client = new HfHubClient(config({ HF_ENDPOINT: `http://127.0.0.1:${port}` }));
    const err = await failure(client.modelInfo('fail-org/a'));
    expect(err.reason).toBe(HfErrorReason.UPSTREAM_ERROR);
    expect(err.message).toContain('HF_ENDPOINT');
  });

  it('a 429 is RATE_LIMITED with the reset time, and the client then waits it out without calling', async () => {
    const client = new HfHubClient(config());
    hub.fail({ route: 'api', status: 429, times: 1, retryAfterSeconds: 120 });

    const first = await failure(client.modelInfo('fail-org/a'));
    expect(first.reason).toBe(HfErrorReason.RATE_LIMITED);
    expect(first.retryAfterSeconds).toBe(120);
    expect(first.message).toContain('retry in 120 s');

    const sent = client.upstreamCalls;
    const seen = hub.count('api');
    for (const call of [client.modelInfo('fail-org/b'), client.searchGguf({}), client.modelInfo('fail-org/a')]) {
      const err = await failure(call);
      expect(err.reason).toBe(HfErrorReason.RATE_LIMITED);
      expect(err.retryAfterSeconds).toBeGreaterThan(100);
    }
    expect(client.upstreamCalls).toBe(sent);
    expect(hub.count('api')).toBe(seen);

    // Resolves count against another bucket on the Hub, so they still go through.
    await client.checkFileAccess('fail-org/a', 'main', 'README.md');
    expect(client.upstreamCalls).toBe(sent + 1);
  });
});

describe('HfHubClient.searchGguf', () => {
  beforeAll(() => {
    for (let i = 1; i <= 7; i += 1) {
      hub.addRepo(ggufRepo(`page-org/model-${i}`, { downloads: i * 10, likes: 8 - i }));
    }
    hub.addRepo({ id: 'page-org/not-gguf', files: [{ path: 'model.safetensors', content: Buffer.alloc(64) }] });
    hub.addRepo(ggufRepo('page-org/hidden', { private: true, downloads: 10_000 }));
  });

  it('pages through all GGUF repos with cursors, sorted, with the expanded fields', async () => {
    const client = new HfHubClient(config());
    const ids: string[] = [];
    const pages: number[] = [];
    let cursor: string | null = null;
    do {
      const page = await client.searchGguf({ search: 'page-org', sort: 'downloads', limit: 3, cursor });
      ids.push(...page.items.map((item) => item.id));
      pages.push(page.items.length);
      cursor = page.nextCursor;
    } while (cursor !== null);

    expect(pages).toEqual([3, 3, 1]);
    expect(ids).toEqual([7, 6, 5, 4, 3, 2, 1].map((i) => `page-org/model-${i}`));
    expect(client.upstreamCalls).toBe(3);

    const first = await client.searchGguf({ search: 'page-org', sort: 'likes', limit: 1 });
    expect(first.items[0]).toMatchObject({
      id: 'page-org/model-1',
      likes: 7,
      downloads: 10,
      pipelineTag: 'text-generation',
      gguf: { architecture: 'llama', contextLength: 2048 },
    });
    expect(first.items[0]!.tags).toContain('gguf');
    expect(first.items[0]!.lastModified).toBeInstanceOf(Date);
    const query = new URLSearchParams(hub.requests.at(-1)!.query);
    expect(query.getAll('expand')).toEqual(['downloads', 'likes', 'lastModified', 'tags', 'pipeline_tag', 'gguf']);
    expect(query.get('filter')).toBe('gguf');
  });

  it('clamps the page size to 100 and defaults it to 20', async () => {
    const client = new HfHubClient(config());
    await client.searchGguf({ limit: 1000 });
    expect(new URLSearchParams(hub.requests.at(-1)!.query).get('limit')).toBe('100');
    await client.searchGguf({});
    expect(new URLSearchParams(hub.requests.at(-1)!.query).get('limit')).toBe('20');
  });

  it('rejects a tampered cursor, and never lets one widen the query or leave HF_ENDPOINT', async () => {
    const client = new HfHubClient(config());
    const page = await client.searchGguf({ search: 'page-org', limit: 2 });
    const calls = client.upstreamCalls;

    for (const bad of ['garbage!!', Buffer.from('https://evil.example/api/models?cursor=x').toString('base64url')]) {
      const err = await failure(client.searchGguf({ cursor: bad }));
      expect(err.reason).toBe(HfErrorReason.INVALID_ARGUMENT);
      expect(err.details.field).toBe('cursor');
    }
    expect(client.upstreamCalls).toBe(calls);

    const forged = Buffer.from('cursor=forged&filter=gguf').toString('base64url');
    const refused = await failure(client.searchGguf({ cursor: forged }));
    expect(refused.reason).toBe(HfErrorReason.INVALID_ARGUMENT);
    expect(refused.message).toContain('start again without a cursor');

    const widened = new URLSearchParams(Buffer.from(page.nextCursor!, 'base64url').toString('utf8'));
    widened.delete('filter');
    widened.set('limit', '5000');
    await client.searchGguf({ cursor: Buffer.from(widened.toString()).toString('base64url') });
    const sent = hub.requests.at(-1)!;
    expect(sent.path).toBe('/api/models');
    expect(new URLSearchParams(sent.query).get('filter')).toBe('gguf');
    expect(new URLSearchParams(sent.query).get('limit')).toBe('100');
  });
});

describe('HfStatsService', () => {
  const repos = ['stats-org/a', 'stats-org/b', 'stats-org/c', 'stats-org/d', 'stats-org/e'];

  beforeAll(() => {
    repos.forEach((id, i) => hub.addRepo(ggufRepo(id, { downloads: 1000 + i, likes: i })));
  });

  function service(env: Record<string, string> = {}): { client: HfHubClient; stats: HfStatsService } {
    const cfg = config(env);
    const client = new HfHubClient(cfg);
    return { client, stats: new HfStatsService(client, cfg) };
  }

  it('200 concurrent getStats for 5 repos cost exactly 5 upstream calls', async () => {
    const { client, stats } = service();
    const before = hub.count('api');

    const values = await Promise.all(Array.from({ length: 200 }, (_, i) => stats.getStats(repos[i % 5]!)));

    expect(client.upstreamCalls).toBe(5);
    expect(hub.count('api') - before).toBe(5);
    values.forEach((value, i) => {
      expect(value).toMatchObject({ downloads: 1000 + (i % 5), likes: i % 5, stale: false });
      expect(value!.fetchedAt).toBeInstanceOf(Date);
    });
  });

  it('after the TTL a failing Hub gets the previous numbers marked stale, then fresh ones once it recovers', async () => {
    hub.addRepo(ggufRepo('stats-org/ttl', { downloads: 50 }));
    const { client, stats } = service({ HF_STATS_TTL_MS: '1000' });
    expect(await stats.getStats('stats-org/ttl')).toMatchObject({ downloads: 50, stale: false });

    await new Promise((resolve) => setTimeout(resolve, 1100));
    hub.fail({ route: 'api', repo: 'stats-org/ttl', status: 500 });
    expect(await stats.getStats('stats-org/ttl')).toMatchObject({ downloads: 50, stale: true });
    // getStatsStrict waits for the refresh that getStats started in the background.
    expect(await stats.getStatsStrict('stats-org/ttl')).toMatchObject({ downloads: 50, stale: true });
    expect(client.upstreamCalls).toBe(2);
    expect(await stats.getStats('stats-org/ttl')).toMatchObject({ downloads: 50, stale: true });

    hub.reset();
    hub.updateStats('stats-org/ttl', { downloads: 75 });
    const fresh = await eventually(
      () => stats.getStats('stats-org/ttl'),
      (value) => value?.stale === false,
    );
    expect(fresh).toMatchObject({ downloads: 75, stale: false });
  });

  it('cold cache and a stalled Hub: null within about waitMs, and the fetch still fills the cache', async () => {
    hub.addRepo(ggufRepo('stats-org/slow', { downloads: 9 }));
    const { client, stats } = service({ HF_TIMEOUT_MS: '10000' });
    hub.delay({ route: 'api', repo: 'stats-org/slow', ms: 2500, times: 1 });

    // The Hub answers after 2.5 s; getStats must give up long before (it waits 100 ms).
    const started = Date.now();
    expect(await stats.getStats('stats-org/slow', { waitMs: 100 })).toBeNull();
    expect(Date.now() - started).toBeLessThan(2400);

    const value = await eventually(
      () => stats.getStats('stats-org/slow', { waitMs: 0 }),
      (v) => v !== null,
    );
    expect(value).toMatchObject({ downloads: 9, stale: false });
    expect(client.upstreamCalls).toBe(1);
  });

  it('a fetch that times out after getStats gave up leaves no unhandled rejection', async () => {
    hub.addRepo(ggufRepo('stats-org/stuck'));
    const { client, stats } = service({ HF_TIMEOUT_MS: '200' });
    hub.delay({ route: 'api', repo: 'stats-org/stuck', ms: 2000, times: 1 });

    expect(await stats.getStats('stats-org/stuck', { waitMs: 50 })).toBeNull();
    await new Promise((resolve) => setTimeout(resolve, 400));
    const err = await failure(stats.getStatsStrict('stats-org/stuck'));
    expect(err.reason).toBe(HfErrorReason.TIMEOUT);
    expect(client.upstreamCalls).toBe(1);
  });

  it('prime() seeds the cache so registration costs no second call', async () => {
    const { client, stats } = service();
    const info = await client.modelInfo('stats-org/a');
    stats.prime('stats-org/a', info);

    expect(await stats.getStats('stats-org/a')).toMatchObject({ downloads: 1000, stale: false });
    expect(client.upstreamCalls).toBe(1);
  });

  it('a repo the Hub refuses: getStats is null, getStatsStrict says why, and it is not asked again at once', async () => {
    const { client, stats } = service();
    expect(await stats.getStats('stats-org/missing')).toBeNull();
    const err = await failure(stats.getStatsStrict('stats-org/missing'));
    expect(err.reason).toBe(HfErrorReason.REPO_NOT_FOUND);
    expect(err.message).toContain('or it is private or gated: set HF_TOKEN');
    expect(await stats.getStats('stats-org/missing')).toBeNull();
    expect(client.upstreamCalls).toBe(1);
  });

  it('during a 429 cooldown stats come from the cache or are null, and the Hub is not called', async () => {
    const { client, stats } = service({ HF_STATS_TTL_MS: '1000' });
    expect(await stats.getStats('stats-org/b')).toMatchObject({ downloads: 1001 });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    hub.fail({ route: 'api', status: 429, times: 1, retryAfterSeconds: 60 });

    expect(await stats.getStats('stats-org/b')).toMatchObject({ downloads: 1001, stale: true });
    expect(await stats.getStatsStrict('stats-org/b')).toMatchObject({ downloads: 1001, stale: true });
    const seen = hub.count('api');
    const answers = await Promise.all([
      ...Array.from({ length: 20 }, () => stats.getStats('stats-org/b')),
      ...Array.from({ length: 20 }, () => stats.getStats('stats-org/c')),
    ]);
    expect(answers.slice(0, 20).every((v) => v?.stale === true && v.downloads === 1001)).toBe(true);
    expect(answers.slice(20).every((v) => v === null)).toBe(true);
    expect((await failure(stats.getStatsStrict('stats-org/c'))).reason).toBe(HfErrorReason.RATE_LIMITED);
    expect(hub.count('api')).toBe(seen);
    expect(client.upstreamCalls).toBe(2);
  });

  it('HfStatsModule wires up in Nest with the global config', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forRoot(config()), HfStatsModule],
    }).compile();
    const stats = moduleRef.get(HfStatsService);
    const client = moduleRef.get(HfHubClient);

    expect(await stats.getStats('stats-org/e')).toMatchObject({ downloads: 1004 });
    expect(client.upstreamCalls).toBe(1);
    await moduleRef.close();
  });
});
