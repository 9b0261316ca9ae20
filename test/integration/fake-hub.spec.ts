import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { FakeHub } from '../support/fake-hub.js';

// The local Hub that later tests (registry, downloads, repairs) rely on: check it speaks the wire format they expect.
let hub: FakeHub;
const weights = randomBytes(64 * 1024);
const readme = Buffer.from('# tiny\n');
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

beforeAll(async () => {
  hub = await FakeHub.start({ quota: { api: 1000 } });
  hub.setToken('grant');
  hub.addUserToken('user');
  hub.addRepo({
    id: 'wire/tiny',
    files: [
      { path: 'tiny.gguf', content: weights },
      { path: 'README.md', content: readme },
      { path: 'sub/extra.gguf', content: Buffer.from('GGUF-extra') },
    ],
    downloads: 3,
  });
  hub.addRepo({ id: 'wire/gated', files: [{ path: 'g.gguf', content: Buffer.from('GGUF') }], gated: 'auto' });
});

afterAll(async () => {
  await hub.stop();
});

beforeEach(() => {
  hub.reset();
});

const get = (path: string, init: RequestInit = {}): Promise<Response> => fetch(`${hub.url}${path}`, init);

async function resolveLocation(file = 'tiny.gguf'): Promise<string> {
  const res = await get(`/wire/tiny/resolve/main/${file}`, { redirect: 'manual' });
  expect(res.status).toBe(302);
  return res.headers.get('location')!;
}

describe('FakeHub', () => {
  it('resolve: LFS files redirect to a signed CDN URL with the linked sha256 and size', async () => {
    const res = await get('/wire/tiny/resolve/main/tiny.gguf', { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('x-repo-commit')).toBe(hub.repo('wire/tiny').sha);
    expect(res.headers.get('x-linked-etag')).toBe(`"${sha256(weights)}"`);
    expect(res.headers.get('x-linked-size')).toBe(String(weights.length));
    expect(res.headers.get('location')).toMatch(
      new RegExp(`^${hub.url}/cdn/wire/tiny/[0-9a-f]{40}/tiny\\.gguf\\?exp=`),
    );

    const followed = await get('/wire/tiny/resolve/main/tiny.gguf');
    expect(followed.status).toBe(200);
    expect(followed.headers.get('etag')).toBe(`"${sha256(weights)}"`);
    expect(followed.headers.get('accept-ranges')).toBe('bytes');
    expect(Buffer.from(await followed.arrayBuffer()).equals(weights)).toBe(true);
  });

  it('resolve: git files are served directly', async () => {
    const res = await get('/wire/tiny/resolve/main/README.md', { redirect: 'manual' });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(readme)).toBe(true);
  });

  it('the CDN honours Range, says 416 past the end, and can be told to ignore Range', async () => {
    const location = await resolveLocation();
    const partial = await fetch(location, { headers: { Range: 'bytes=100-199' } });
    expect(partial.status).toBe(206);
    expect(partial.headers.get('content-range')).toBe(`bytes 100-199/${weights.length}`);
    expect(Buffer.from(await partial.arrayBuffer()).equals(weights.subarray(100, 200))).toBe(true);

    const suffix = await fetch(location, { headers: { Range: 'bytes=-10' } });
    expect(Buffer.from(await suffix.arrayBuffer()).equals(weights.subarray(-10))).toBe(true);
    expect((await fetch(location, { headers: { Range: `bytes=${weights.length}-` } })).status).toBe(416);

    hub.ignoreRange(true);
    const whole = await fetch(location, { headers: { Range: 'bytes=100-' } });
    expect(whole.status).toBe(200);
    expect((await whole.arrayBuffer()).byteLength).toBe(weights.length);
  });

  it('truncateAfter closes the socket mid-body; a resume past that offset completes the file', async () => {
    hub.truncateAfter({ repo: 'wire/tiny', file: 'tiny.gguf', bytes: 10_000 });
    const location = await resolveLocation();
    const cut = await fetch(location);
    expect(cut.headers.get('content-length')).toBe(String(weights.length));
    await expect(cut.arrayBuffer()).rejects.toThrow();

    const rest = await fetch(location, { headers: { Range: 'bytes=10000-' } });
    expect(rest.status).toBe(206);
    const tail = Buffer.from(await rest.arrayBuffer());
    expect(sha256(Buffer.concat([weights.subarray(0, 10_000), tail]))).toBe(sha256(weights));
  });

  it('corrupt serves bytes of the same length that fail the announced sha256', async () => {
    hub.corrupt({ repo: 'wire/tiny', file: 'tiny.gguf' });
    const res = await fetch(await resolveLocation());
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.length).toBe(weights.length);
    expect(body.subarray(0, 1024).equals(weights.subarray(0, 1024))).toBe(true);
    expect(sha256(body)).not.toBe(sha256(weights));
    expect(res.headers.get('etag')).toBe(`"${sha256(weights)}"`);
  });

  it('signed URLs expire: all of them while expireSignedUrls(true), or those issued before expireIssuedUrls()', async () => {
    const old = await resolveLocation();
    hub.expireSignedUrls(true);
    expect((await fetch(old)).status).toBe(403);
    hub.expireSignedUrls(false);
    expect((await fetch(old)).status).toBe(200);

    hub.expireIssuedUrls();
    expect((await fetch(old)).status).toBe(403);
    expect((await fetch(await resolveLocation())).status).toBe(200);
    expect((await fetch(old.replace(/sig=[0-9a-f]+/, 'sig=00'))).status).toBe(403);
  });

  it('throttle slows file bodies down', async () => {
    hub.throttle({ bytesPerSecond: 200_000 });
    const started = Date.now();
    const res = await fetch(await resolveLocation());
    expect((await res.arrayBuffer()).byteLength).toBe(weights.length);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
  });

  it('answers errors as the Hub does: codes in X-Error-Code, JSON bodies', async () => {
    const missing = await get('/api/models/wire/nope');
    expect(missing.status).toBe(401);
    expect(missing.headers.get('x-error-code')).toBe('RepoNotFound');
    expect(await missing.json()).toEqual({ error: 'Repository not found' });
    const withToken = await get('/api/models/wire/nope', { headers: { Authorization: 'Bearer user' } });
    expect(withToken.status).toBe(404);

    const gatedInfo = await get('/api/models/wire/gated');
    expect(gatedInfo.status).toBe(200);
    const anonymous = await get('/wire/gated/resolve/main/g.gguf', { method: 'HEAD', redirect: 'manual' });
    expect([anonymous.status, anonymous.headers.get('x-error-code')]).toEqual([401, 'GatedRepo']);
    const user = await get('/wire/gated/resolve/main/g.gguf', {
      method: 'HEAD',
      redirect: 'manual',
      headers: { Authorization: 'Bearer user' },
    });
    expect([user.status, user.headers.get('x-error-code')]).toEqual([403, 'GatedRepo']);

    const revision = await get('/api/models/wire/tiny/revision/nope');
    expect([revision.status, revision.headers.get('x-error-code')]).toEqual([404, 'RevisionNotFound']);
    const entry = await get('/wire/tiny/resolve/main/nope.gguf', { redirect: 'manual' });
    expect([entry.status, entry.headers.get('x-error-code')]).toEqual([404, 'EntryNotFound']);
  });

  it('model info: siblings carry lfs{sha256,size,pointerSize} with blobs=true; HEAD is a revision', async () => {
    const res = await get('/api/models/wire/tiny/revision/HEAD?blobs=true');
    const info = (await res.json()) as { sha: string; siblings: Record<string, unknown>[] };
    expect(info.sha).toBe(hub.repo('wire/tiny').sha);
    expect(info.siblings).toContainEqual(
      expect.objectContaining({
        rfilename: 'tiny.gguf',
        size: weights.length,
        lfs: expect.objectContaining({ sha256: sha256(weights), size: weights.length }),
      }),
    );
    expect(info.siblings.find((s) => s.rfilename === 'README.md')).not.toHaveProperty('lfs');
    expect(res.headers.get('ratelimit')).toMatch(/^"api";r=\d+;t=\d+$/);
    expect(res.headers.get('ratelimit-policy')).toContain('q=1000;w=300');
  });

  it('tree lists a folder, LFS entries with lfs.oid', async () => {
    const root = (await (await get('/api/models/wire/tiny/tree/main')).json()) as Record<string, unknown>[];
    expect(root.map((e) => [e.type, e.path])).toEqual([
      ['file', 'README.md'],
      ['directory', 'sub'],
      ['file', 'tiny.gguf'],
    ]);
    expect(root[2]).toMatchObject({ lfs: { oid: sha256(weights), size: weights.length } });
    const sub = (await (await get('/api/models/wire/tiny/tree/main/sub')).json()) as Record<string, unknown>[];
    expect(sub.map((e) => e.path)).toEqual(['sub/extra.gguf']);
    expect((await get('/api/models/wire/tiny/tree/main/nope')).status).toBe(404);
  });

  it('search returns _id, id, modelId and only the expanded fields; an unknown expand is a 400', async () => {
    const res = await get('/api/models?filter=gguf&search=wire/t&expand=downloads&expand[]=gguf');
    expect(await res.json()).toEqual([
      {
        _id: expect.any(String),
        id: 'wire/tiny',
        modelId: 'wire/tiny',
        downloads: 3,
        gguf: expect.objectContaining({ architecture: 'llama' }),
      },
    ]);
    expect((await get('/api/models?expand=nope')).status).toBe(400);
  });

  it('fail() injects statuses for a route and repo, a number of times, and count() sees every request', async () => {
    hub.clearRequests();
    hub.fail({ route: 'api', repo: 'wire/tiny', status: 429, times: 1, retryAfterSeconds: 7 });
    const limited = await get('/api/models/wire/tiny');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('ratelimit')).toBe('"api";r=0;t=7');
    expect(limited.headers.get('retry-after')).toBe('7');
    expect((await get('/api/models/wire/tiny')).status).toBe(200);
    expect((await get('/api/models/wire/gated')).status).toBe(200);

    hub.fail({ route: 'cdn', status: 503, times: 1 });
    expect((await get('/wire/tiny/resolve/main/tiny.gguf')).status).toBe(503);
    expect(hub.count('api')).toBe(3);
    expect(hub.count('api', 'wire/tiny')).toBe(2);
    expect(hub.count('resolve')).toBe(1);
    expect(hub.count('cdn')).toBe(1);
  });
});
