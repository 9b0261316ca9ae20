import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DownloadError, DownloadErrorCode } from '../../src/agent/download/download.errors.js';
import {
  FileDownloader,
  type DownloadProgress,
  type DownloadSpec,
  type FileDownloaderOptions,
} from '../../src/agent/download/file-downloader.js';
import { verifyGgufOrThrow } from '../../src/agent/gguf/gguf-check.js';
import { FakeHub } from '../support/fake-hub.js';
import { RecordingProxy } from '../support/recording-proxy.js';
import { brokenGguf, tinyGgufBuffer } from '../support/tiny-gguf.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let hub: FakeHub;
let dir: string;
let repoCount = 0;

beforeAll(async () => {
  hub = await FakeHub.start();
});
afterAll(async () => {
  await hub.stop();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'file-downloader-'));
  hub.reset();
  hub.clearRequests();
});
afterEach(async () => {
  hub.reset();
  await rm(dir, { recursive: true, force: true });
});

interface Published {
  spec: DownloadSpec;
  content: Buffer;
  repo: string;
  file: string;
}

/** A new repo holding one file, and the spec a node would get for it from the manifest. */
function publish(
  content: Buffer,
  options: { file?: string; gated?: 'manual'; base?: string; dest?: string } = {},
): Published {
  repoCount += 1;
  const repo = `org/repo-${repoCount}`;
  const file = options.file ?? 'model.gguf';
  const handle = hub.addRepo({ id: repo, files: [{ path: file, content }], gated: options.gated ?? false });
  const url = `${options.base ?? hub.url}/${repo}/resolve/${handle.sha}/${file}`;
  return {
    spec: { url, destPath: join(dir, options.dest ?? file), size: content.length, sha256: sha256(content) },
    content,
    repo,
    file,
  };
}

/** Fixed backoff (no jitter): 125 ms, 250 ms, ... */
const downloader = (options: FileDownloaderOptions = {}): FileDownloader =>
  new FileDownloader({ random: () => 0, ...options });

async function failure(promise: Promise<unknown>): Promise<DownloadError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof DownloadError) return err;
    throw err;
  }
  throw new Error('expected the download to fail');
}

const cdnRequests = () => hub.requests.filter((r) => r.route === 'cdn');

describe('FileDownloader', () => {
  it('downloads a file into place with its sha256, reporting progress at most every ~100 ms and once at the end', async () => {
    const { spec, content } = publish(randomBytes(2 * MiB));
    hub.throttle({ bytesPerSecond: 4 * MiB });
    const events: (DownloadProgress & { at: number })[] = [];

    const result = await downloader().download(spec, { onProgress: (p) => events.push({ ...p, at: Date.now() }) });

    expect(result).toEqual({
      path: spec.destPath,
      sha256: spec.sha256,
      resumedFromBytes: 0,
      bytesFetched: content.length,
      skipped: false,
      retries: 0,
    });
    expect(sha256(await readFile(spec.destPath))).toBe(spec.sha256);
    expect(existsSync(`${spec.destPath}.partial`)).toBe(false);
    expect(events.length).toBeGreaterThanOrEqual(3);
    expect(events.at(-1)).toMatchObject({ bytesDone: content.length, bytesTotal: content.length });
    const throttled = events.slice(0, -1);
    for (let i = 1; i < throttled.length; i += 1) {
      expect(throttled[i]!.at - throttled[i - 1]!.at).toBeGreaterThanOrEqual(95);
      expect(throttled[i]!.bytesDone).toBeGreaterThan(throttled[i - 1]!.bytesDone);
    }
    expect(hub.requests.map((r) => [r.route, r.status, r.range])).toEqual([
      ['resolve', 302, null],
      ['cdn', 200, null],
    ]);
  });

  it('streams a 256 MiB file with the right sha256 without holding it in memory', async () => {
    const { spec } = publish(randomBytes(256 * MiB));
    const before = process.memoryUsage().rss;
    let peak = before;
    const result = await downloader().download(spec, {
      onProgress: () => {
        peak = Math.max(peak, process.memoryUsage().rss);
      },
    });
    expect(result.sha256).toBe(spec.sha256);
    expect((await stat(spec.destPath)).size).toBe(256 * MiB);
    // Node's http client leaves socket chunks to the GC: 40–80 MiB seen on Node 20, up to 166 MiB on Node 24, whose GC
    // lets them pile up longer. Buffering the file would add all of its 256 MiB on top of that garbage.
    expect(peak - before).toBeLessThan(240 * MiB);
  });

  it('skips a destination that already holds the right bytes, without any request', async () => {
    const { spec, content } = publish(randomBytes(256 * KiB));
    await writeFile(spec.destPath, content);
    const events: DownloadProgress[] = [];
    const result = await downloader().download(spec, { onProgress: (p) => events.push(p) });
    expect(result).toMatchObject({ skipped: true, bytesFetched: 0, sha256: spec.sha256 });
    expect(hub.count('all')).toBe(0);
    expect(events).toEqual([{ bytesDone: content.length, bytesTotal: content.length }]);
  });

  it('replaces a destination of the right size with the wrong bytes', async () => {
    const { spec, content } = publish(randomBytes(256 * KiB));
    await writeFile(spec.destPath, randomBytes(content.length));
    const result = await downloader().download(spec);
    expect(result.skipped).toBe(false);
    expect(sha256(await readFile(spec.destPath))).toBe(spec.sha256);
  });

  describe('disk space', () => {
    it('refuses before any byte moves when the disk lacks room for the rest plus the reserve', async () => {
      const { spec } = publish(randomBytes(MiB));
      const probed: string[] = [];
      const full = downloader({
        statfs: async (d) => {
          probed.push(d);
          return { bavail: 100n, bsize: 4096n };
        },
      });
      const err = await failure(full.download(spec, { reserveBytes: 0 }));
      expect(err).toMatchObject({ code: DownloadErrorCode.INSUFFICIENT_DISK, retryable: false });
      expect(err.details).toMatchObject({ required: MiB, available: 409600 });
      expect(err.message).toMatch(/not enough free space/);
      expect(probed).toEqual([dir]);
      expect(hub.count('all')).toBe(0);
      expect(existsSync(`${spec.destPath}.partial`)).toBe(false);
    });

    it('counts only the bytes still missing when a partial exists, and the reserve from the real filesystem', async () => {
      const { spec, content } = publish(randomBytes(MiB));
      await writeFile(`${spec.destPath}.partial`, content.subarray(0, 768 * KiB));
      const tight = downloader({ statfs: async () => ({ bavail: 300, bsize: 1024 }) });
      const result = await tight.download(spec, { reserveBytes: 0 });
      expect(result.resumedFromBytes).toBe(768 * KiB);

      const other = publish(randomBytes(KiB));
      const err = await failure(downloader().download(other.spec, { reserveBytes: 2 ** 62 }));
      expect(err.code).toBe(DownloadErrorCode.INSUFFICIENT_DISK);
    });
  });

  describe('resume', () => {
    it('resumes an existing .partial with Range and counts its prefix in progress', async () => {
      const { spec, content } = publish(randomBytes(MiB));
      await writeFile(`${spec.destPath}.partial`, content.subarray(0, 300_000));
      const events: DownloadProgress[] = [];
      const result = await downloader().download(spec, { onProgress: (p) => events.push(p) });
      expect(result).toMatchObject({ resumedFromBytes: 300_000, bytesFetched: MiB - 300_000, retries: 0 });
      expect(cdnRequests().map((r) => [r.status, r.range])).toEqual([[206, 'bytes=300000-']]);
      expect(events[0]!.bytesDone).toBeGreaterThan(300_000);
      expect(sha256(await readFile(spec.destPath))).toBe(spec.sha256);
    });

    it('starts over from zero when the server answers a ranged request with 200', async () => {
      const { spec, content } = publish(randomBytes(MiB));
      await writeFile(`${spec.destPath}.partial`, content.subarray(0, 500_000));
      hub.ignoreRange(true);
      const result = await downloader().download(spec);
      expect(result).toMatchObject({ resumedFromBytes: 0, bytesFetched: MiB, sha256: spec.sha256 });
      expect(cdnRequests().map((r) => [r.status, r.range])).toEqual([[200, 'bytes=500000-']]);
      expect(sha256(await readFile(spec.destPath))).toBe(spec.sha256);
    });

    it('finishes a complete .partial left by a crash before the rename, without any request', async () => {
      const { spec, content } = publish(randomBytes(256 * KiB));
      await writeFile(`${spec.destPath}.partial`, content);
      const tiny = downloader({ statfs: async () => ({ bavail: 0, bsize: 4096 }) });
      const result = await tiny.download(spec);
      expect(result).toMatchObject({ skipped: false, resumedFromBytes: content.length, bytesFetched: 0 });
      expect(hub.count('all')).toBe(0);
      expect(sha256(await readFile(spec.destPath))).toBe(spec.sha256);
      expect(existsSync(`${spec.destPath}.partial`)).toBe(false);
    });

    it('discards a .partial longer than the file', async () => {
      const { spec, content } = publish(randomBytes(256 * KiB));
      await writeFile(`${spec.destPath}.partial`, randomBytes(content.length + 10));
      const result = await downloader().download(spec);
      expect(result).toMatchObject({ resumedFromBytes: 0, bytesFetched: content.length });
      expect(cdnRequests().map((r) => r.range)).toEqual([null]);
    });

    it('keeps the partial when the agent stops mid-download, and a new agent fetches only the rest', async () => {
      const { spec, content } = publish(randomBytes(2 * MiB));
      const proxy = await RecordingProxy.start(hub.url, { cdnHost: 'same' });
      try {
        const viaProxy = { ...spec, url: spec.url.replace(hub.url, proxy.hubUrl) };
        hub.throttle({ bytesPerSecond: 2 * MiB });
        const stop = new AbortController();
        const first = downloader().download(viaProxy, {
          signal: stop.signal,
          onProgress: (p) => {
            if (p.bytesDone >= 512 * KiB) stop.abort();
          },
        });
        const err = await failure(first);
        expect(err).toMatchObject({ code: DownloadErrorCode.ABORTED, retryable: false });
        const kept = (await stat(`${spec.destPath}.partial`)).size;
        expect(kept).toBeGreaterThan(0);
        expect(existsSync(spec.destPath)).toBe(false);
        hub.throttle(null);

        const result = await downloader().download(viaProxy);

        expect(result).toMatchObject({ resumedFromBytes: kept, bytesFetched: content.length - kept });
        expect(sha256(await readFile(spec.destPath))).toBe(spec.sha256);
        const cdn = proxy.cdnRequests();
        expect(cdn.map((r) => r.range)).toEqual([null, `bytes=${kept}-`]);
        const served = cdn.reduce((sum, r) => sum + r.bytes, 0);
        // Only what was in flight when the first agent stopped is fetched twice.
        expect(served).toBeGreaterThanOrEqual(content.length);
        expect(served).toBeLessThan(content.length + 256 * KiB);
      } finally {
        await proxy.stop();
      }
    });
  });

  describe('transient faults are retried inside the call', () => {
    it('resumes with Range after the connection drops mid-body', async () => {
      const { spec, repo, file } = publish(randomBytes(MiB));
      hub.truncateAfter({ repo, file, bytes: 400_000, times: 1 });
      const result = await downloader().download(spec);
      expect(result).toMatchObject({ retries: 1, resumedFromBytes: 0, bytesFetched: MiB, sha256: spec.sha256 });
      const [first, second] = cdnRequests();
      expect([first?.status, first?.range, second?.status]).toEqual([200, null, 206]);
      // What arrived before the socket closed (the server's reset may drop the last bytes in flight).
      const resumedAt = Number(/^bytes=(\d+)-$/.exec(second?.range ?? '')?.[1]);
      expect(resumedAt).toBeGreaterThan(0);
      expect(resumedAt).toBeLessThanOrEqual(400_000);
      // The CDN URL is reused for the retry: one resolve only.
      expect(hub.count('resolve')).toBe(1);
    });

    it('re-resolves when the signed CDN URL expires mid-download and goes on from the bytes on disk', async () => {
      const { spec, repo, file } = publish(randomBytes(MiB));
      hub.throttle({ bytesPerSecond: 2 * MiB });
      hub.truncateAfter({ repo, file, bytes: 512 * KiB, times: 1 });
      let expired = false;
      const result = await downloader().download(spec, {
        onProgress: () => {
          if (!expired) hub.expireIssuedUrls();
          expired = true;
        },
      });
      expect(result.sha256).toBe(spec.sha256);
      const range = hub.requests[2]?.range ?? '';
      expect(range).toMatch(/^bytes=[1-9]\d*-$/);
      expect(hub.requests.map((r) => [r.route, r.status, r.range])).toEqual([
        ['resolve', 302, null],
        ['cdn', 200, null],
        ['cdn', 403, range],
        ['resolve', 302, range],
        ['cdn', 206, range],
      ]);
      expect(result.retries).toBe(2);
    });

    it('gives up with UNAUTHORIZED when the CDN refuses even freshly signed URLs', async () => {
      const { spec } = publish(randomBytes(64 * KiB));
      hub.expireSignedUrls(true);
      const err = await failure(downloader().download(spec));
      expect(err).toMatchObject({ code: DownloadErrorCode.UNAUTHORIZED, retryable: false });
      expect(hub.count('resolve')).toBe(3);
    });

    it('retries 5xx from the Hub and the CDN with backoff', async () => {
      const { spec } = publish(randomBytes(128 * KiB));
      hub.fail({ route: 'resolve', status: 502, times: 1 });
      hub.fail({ route: 'cdn', status: 503, times: 2 });
      const started = Date.now();
      const result = await downloader().download(spec);
      expect(result).toMatchObject({ retries: 3, sha256: spec.sha256 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(125 + 250 + 500 - 20);
    });

    it('waits as long as a 429 asks (Retry-After) before retrying', async () => {
      const { spec } = publish(randomBytes(64 * KiB));
      hub.fail({ route: 'resolve', status: 429, times: 1, retryAfterSeconds: 1 });
      const started = Date.now();
      const result = await downloader().download(spec);
      expect(result.retries).toBe(1);
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    });

    it('fails RATE_LIMITED at once when the server asks to wait longer than the downloader may', async () => {
      const { spec } = publish(randomBytes(64 * KiB));
      hub.fail({ route: 'resolve', status: 429, times: 1, retryAfterSeconds: 120 });
      const err = await failure(downloader({ maxRetryDelayMs: 5000 }).download(spec));
      expect(err).toMatchObject({ code: DownloadErrorCode.RATE_LIMITED, retryable: true });
      expect(err.details).toMatchObject({ retryAfterMs: 120_000, status: 429 });
    });

    it('gives up after maxAttempts attempts, still retryable for the job layer', async () => {
      const { spec } = publish(randomBytes(64 * KiB));
      hub.fail({ route: 'cdn', status: 500 });
      const err = await failure(downloader().download(spec, { maxAttempts: 3 }));
      expect(err).toMatchObject({ code: DownloadErrorCode.HTTP_ERROR, retryable: true });
      expect(err.details).toMatchObject({ status: 500, attempts: 3 });
      expect(err.message).toMatch(/gave up after 3 attempts/);
      expect(hub.count('cdn')).toBe(3);
      expect(err.message).not.toMatch(/sig=/);
    });

    it('aborts an attempt that gets no answer within stallTimeoutMs, and retries it', async () => {
      const { spec } = publish(randomBytes(64 * KiB));
      hub.delay({ route: 'cdn', ms: 3000, times: 1 });
      const started = Date.now();
      const result = await downloader().download(spec, { stallTimeoutMs: 300 });
      expect(result).toMatchObject({ retries: 1, sha256: spec.sha256 });
      expect(Date.now() - started).toBeLessThan(2500);
    });

    it('fails STALLED (retryable) when the body stops flowing, keeping what arrived', async () => {
      const { spec } = publish(randomBytes(64 * KiB));
      hub.throttle({ bytesPerSecond: 2 });
      const err = await failure(downloader().download(spec, { stallTimeoutMs: 300, maxAttempts: 2 }));
      expect(err).toMatchObject({ code: DownloadErrorCode.STALLED, retryable: true });
      expect(err.details).toMatchObject({ stallTimeoutMs: 300, attempts: 2 });
      expect((await stat(`${spec.destPath}.partial`)).size).toBeGreaterThan(0);
      expect(cdnRequests()[1]?.range).toMatch(/^bytes=[1-9]\d*-$/);
    });
  });

  describe('failures that are not retried', () => {
    it('NOT_FOUND for a missing file, with one request', async () => {
      const { spec } = publish(randomBytes(KiB));
      const err = await failure(downloader().download({ ...spec, url: spec.url.replace('model.gguf', 'nope.gguf') }));
      expect(err).toMatchObject({ code: DownloadErrorCode.NOT_FOUND, retryable: false });
      expect(err.message).toMatch(/EntryNotFound/);
      expect(hub.count('all')).toBe(1);
    });

    it('UNAUTHORIZED for a gated repo without a token (401) or with a token that was not granted (403)', async () => {
      const { spec } = publish(randomBytes(KiB), { gated: 'manual' });
      const anonymous = await failure(downloader().download(spec));
      expect(anonymous).toMatchObject({ code: DownloadErrorCode.UNAUTHORIZED, retryable: false });
      expect(anonymous.details).toMatchObject({ status: 401 });
      hub.addUserToken('hf_user');
      const refused = await failure(downloader().download(spec, { token: 'hf_user' }));
      expect(refused).toMatchObject({ code: DownloadErrorCode.UNAUTHORIZED, retryable: false });
      expect(refused.details).toMatchObject({ status: 403 });
      expect(hub.count('all')).toBe(2);
    });

    it('CHECKSUM_MISMATCH when the bytes are not the announced ones: the partial is deleted', async () => {
      const { spec, repo, file } = publish(randomBytes(256 * KiB));
      hub.corrupt({ repo, file });
      const err = await failure(downloader().download(spec));
      expect(err).toMatchObject({ code: DownloadErrorCode.CHECKSUM_MISMATCH, retryable: false });
      expect(err.details).toMatchObject({ expected: spec.sha256 });
      expect(existsSync(`${spec.destPath}.partial`)).toBe(false);
      expect(existsSync(spec.destPath)).toBe(false);
    });

    it('SIZE_MISMATCH when the server has another size than the manifest: the partial is deleted', async () => {
      const { spec, content } = publish(randomBytes(256 * KiB));
      const bigger = await failure(downloader().download({ ...spec, size: content.length + 1 }));
      expect(bigger).toMatchObject({ code: DownloadErrorCode.SIZE_MISMATCH, retryable: false });
      await writeFile(`${spec.destPath}.partial`, content.subarray(0, 1000));
      const smaller = await failure(downloader().download({ ...spec, size: content.length - 1 }));
      expect(smaller.code).toBe(DownloadErrorCode.SIZE_MISMATCH);
      expect(smaller.message).toMatch(new RegExp(`has ${content.length} bytes, expected ${content.length - 1}`));
      expect(existsSync(`${spec.destPath}.partial`)).toBe(false);
    });

    it('INVALID_GGUF when the verify hook refuses the file (a truncated GGUF with a matching sha256)', async () => {
      const { spec } = publish(brokenGguf.truncatedData());
      const err = await failure(downloader().download(spec, { verify: verifyGgufOrThrow }));
      expect(err).toMatchObject({ code: DownloadErrorCode.INVALID_GGUF, retryable: false });
      expect(err.message).toMatch(/truncated: data ends at \d+, file has \d+ bytes/);
      expect(existsSync(`${spec.destPath}.partial`)).toBe(false);
      expect(existsSync(spec.destPath)).toBe(false);

      const good = publish(tinyGgufBuffer(), { dest: 'good.gguf' });
      await expect(downloader().download(good.spec, { verify: verifyGgufOrThrow })).resolves.toMatchObject({
        sha256: good.spec.sha256,
      });
    });
  });

  describe('authorization', () => {
    it('sends the token to the Hub but not to a CDN on another host', async () => {
      hub.setToken('hf_granted');
      const proxy = await RecordingProxy.start(hub.url, { cdnHost: 'other' });
      try {
        const { spec } = publish(randomBytes(64 * KiB), { gated: 'manual', base: proxy.hubUrl });
        await downloader().download(spec, { token: 'hf_granted' });
        expect(proxy.requests.map((r) => [r.cdn, r.host.split(':')[0], r.authorization])).toEqual([
          [false, 'localhost', 'Bearer hf_granted'],
          [true, '127.0.0.1', null],
        ]);
      } finally {
        await proxy.stop();
        hub.setToken(null);
      }
    });

    it('keeps the token for a CDN path on the Hub host itself', async () => {
      hub.setToken('hf_granted');
      const proxy = await RecordingProxy.start(hub.url, { cdnHost: 'same' });
      try {
        const { spec } = publish(randomBytes(64 * KiB), { gated: 'manual', base: proxy.hubUrl });
        await downloader().download(spec, { token: 'hf_granted' });
        expect(proxy.requests.map((r) => [r.cdn, r.authorization])).toEqual([
          [false, 'Bearer hf_granted'],
          [true, 'Bearer hf_granted'],
        ]);
      } finally {
        await proxy.stop();
        hub.setToken(null);
      }
    });
  });

  describe('one download per file', () => {
    it('shares one transfer between concurrent calls for the same file; both see progress', async () => {
      const { spec } = publish(randomBytes(MiB));
      hub.throttle({ bytesPerSecond: 4 * MiB });
      const seen = { a: 0, b: 0 };
      const [a, b] = await Promise.all([
        downloader().download(spec, { onProgress: () => (seen.a += 1) }),
        downloader().download(spec, { onProgress: () => (seen.b += 1) }),
      ]);
      expect(a).toEqual(b);
      expect(a.sha256).toBe(spec.sha256);
      expect(hub.count('cdn')).toBe(1);
      expect(seen.a).toBeGreaterThanOrEqual(2);
      expect(seen.b).toBeGreaterThanOrEqual(2);
    });

    it('lets one caller cancel its wait while the other still gets the file', async () => {
      const { spec } = publish(randomBytes(MiB));
      hub.throttle({ bytesPerSecond: 4 * MiB });
      const cancel = new AbortController();
      const leaving = downloader().download(spec, { signal: cancel.signal });
      const staying = downloader().download(spec);
      setTimeout(() => cancel.abort(), 50);
      await expect(failure(leaving)).resolves.toMatchObject({ code: DownloadErrorCode.ABORTED });
      await expect(staying).resolves.toMatchObject({ sha256: spec.sha256 });
      expect(hub.count('cdn')).toBe(1);
    });

    it('runs a download of other bytes for the same path after the one in flight', async () => {
      const first = publish(randomBytes(128 * KiB), { dest: 'same.bin' });
      const second = publish(randomBytes(64 * KiB), { dest: 'same.bin' });
      const [a, b] = await Promise.all([downloader().download(first.spec), downloader().download(second.spec)]);
      expect([a.sha256, b.sha256]).toEqual([first.spec.sha256, second.spec.sha256]);
      expect(sha256(await readFile(second.spec.destPath))).toBe(second.spec.sha256);
      expect(hub.count('cdn')).toBe(2);
    });
  });
});
