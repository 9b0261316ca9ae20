import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DownloadError, DownloadErrorCode } from '../../src/agent/download/download.errors.js';
import {
  FileDownloader,
  type DownloadProgress,
  type FileDownloaderOptions,
} from '../../src/agent/download/file-downloader.js';
import { partialStatePathOf } from '../../src/agent/download/partial-state.js';
import { verifyGgufOrThrow } from '../../src/agent/gguf/gguf-check.js';
import { parseRangeHeader, publishFile, sha256Hex } from '../support/download-fixtures.js';
import { FakeHub } from '../support/fake-hub.js';
import { brokenGguf } from '../support/tiny-gguf.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const CHUNK = 256 * KiB;

let hub: FakeHub;
let dir: string;

beforeAll(async () => {
  hub = await FakeHub.start();
});
afterAll(async () => {
  await hub.stop();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallel-download-'));
  hub.reset();
  hub.clearRequests();
});
afterEach(async () => {
  hub.reset();
  await rm(dir, { recursive: true, force: true });
});

/** Four connections, 256 KiB pieces, a sync every 256 KiB, fixed backoff (125 ms, 250 ms, ...). */
const downloader = (options: FileDownloaderOptions = {}): FileDownloader =>
  new FileDownloader({ connections: 4, chunkBytes: CHUNK, syncEveryBytes: CHUNK, random: () => 0, ...options });

const publish = (content: Buffer, file?: string) => publishFile(hub, dir, content, file);
const cdn = () => hub.requests.filter((r) => r.route === 'cdn');
const rangesAsked = () => cdn().map((r) => parseRangeHeader(r.range));

async function failure(promise: Promise<unknown>): Promise<DownloadError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof DownloadError) return err;
    throw err;
  }
  throw new Error('expected the download to fail');
}

interface StateFile {
  size: number;
  sha256: string;
  done: [number, number][];
}
const readState = async (destPath: string): Promise<StateFile> =>
  JSON.parse(await readFile(partialStatePathOf(destPath), 'utf8')) as StateFile;

/** Every byte of `[0, size)` in exactly one of the ranges. */
function coversOnce(ranges: [number, number][], size: number): boolean {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  let at = 0;
  for (const [start, end] of sorted) {
    if (start !== at) return false;
    at = end;
  }
  return at === size;
}

describe('FileDownloader with several connections', () => {
  it('fetches pieces over several connections at once, each written at its offset, with the right sha256', async () => {
    const { spec, content } = publish(randomBytes(4 * MiB));
    hub.throttle({ bytesPerSecond: 4 * MiB });
    const events: DownloadProgress[] = [];

    const result = await downloader().download(spec, { onProgress: (p) => events.push(p) });

    expect(result).toMatchObject({ sha256: spec.sha256, resumedFromBytes: 0, bytesFetched: content.length });
    expect(sha256Hex(await readFile(spec.destPath))).toBe(spec.sha256);
    expect(hub.count('resolve')).toBe(1);
    expect(cdn().every((r) => r.status === 206)).toBe(true);
    const asked = rangesAsked();
    expect(asked.every((r) => r !== null && r[1] - r[0] === CHUNK)).toBe(true);
    expect(coversOnce(asked as [number, number][], content.length)).toBe(true);
    // A throttled connection each: the Hub saw several bodies at once, never more than configured.
    expect(hub.peakConcurrentBodies).toBeGreaterThanOrEqual(2);
    expect(hub.peakConcurrentBodies).toBeLessThanOrEqual(4);
    expect(events.at(-1)).toEqual({ bytesDone: content.length, bytesTotal: content.length });
    expect(existsSync(`${spec.destPath}.partial`)).toBe(false);
    expect(existsSync(partialStatePathOf(spec.destPath))).toBe(false);
  });

  it('uses one stream for a file smaller than two pieces, and when configured to one connection', async () => {
    const small = publish(randomBytes(CHUNK + 1));
    await downloader().download(small.spec);
    const big = publish(randomBytes(2 * MiB));
    await downloader({ connections: 1 }).download(big.spec);
    expect(cdn().map((r) => [r.status, r.range])).toEqual([
      [200, null],
      [200, null],
    ]);
  });

  it('keeps which pieces are done across a restart, and a new agent fetches only the others', async () => {
    const { spec, content } = publish(randomBytes(4 * MiB));
    hub.throttle({ bytesPerSecond: 2 * MiB });
    const stop = new AbortController();
    const first = downloader().download(spec, {
      signal: stop.signal,
      onProgress: (p) => {
        if (p.bytesDone >= 1.5 * MiB) stop.abort();
      },
    });
    expect(await failure(first)).toMatchObject({ code: DownloadErrorCode.ABORTED });

    // The .partial has the file's size; the state file says which ranges of it are real (and they are).
    expect((await stat(`${spec.destPath}.partial`)).size).toBe(content.length);
    const state = await readState(spec.destPath);
    expect(state).toMatchObject({ size: content.length, sha256: spec.sha256 });
    const partial = await readFile(`${spec.destPath}.partial`);
    const recorded = state.done.reduce((sum, [a, b]) => sum + b - a, 0);
    expect(recorded).toBeGreaterThan(0);
    for (const [a, b] of state.done) expect(partial.subarray(a, b).equals(content.subarray(a, b))).toBe(true);

    hub.throttle(null);
    hub.clearRequests();
    const result = await downloader().download(spec);

    expect(result).toMatchObject({ sha256: spec.sha256, resumedFromBytes: recorded });
    expect(result.bytesFetched).toBe(content.length - recorded);
    expect(sha256Hex(await readFile(spec.destPath))).toBe(spec.sha256);
    const asked = rangesAsked() as [number, number][];
    expect(coversOnce([...asked, ...state.done], content.length)).toBe(true);
    expect(existsSync(partialStatePathOf(spec.destPath))).toBe(false);
  });

  it('resumes exactly the gaps a state file lists, and discards a state file that does not fit', async () => {
    const { spec, content } = publish(randomBytes(2 * MiB));
    const partial = Buffer.alloc(content.length);
    content.copy(partial, 0, 0, 300 * KiB);
    content.copy(partial, MiB, MiB, MiB + 100 * KiB);
    await writeFile(`${spec.destPath}.partial`, partial);
    const done = [
      [0, 300 * KiB],
      [MiB, MiB + 100 * KiB],
    ];
    await writeFile(
      partialStatePathOf(spec.destPath),
      JSON.stringify({ version: 1, size: content.length, sha256: spec.sha256, done }),
    );
    const result = await downloader().download(spec);
    expect(result).toMatchObject({ sha256: spec.sha256, resumedFromBytes: 400 * KiB });
    expect(
      coversOnce([...(rangesAsked() as [number, number][]), ...(done as [number, number][])], content.length),
    ).toBe(true);

    // The state of other bytes (another sha256): nothing of the .partial is trusted.
    const other = publish(randomBytes(2 * MiB));
    await writeFile(`${other.spec.destPath}.partial`, Buffer.alloc(other.content.length));
    await writeFile(
      partialStatePathOf(other.spec.destPath),
      JSON.stringify({ version: 1, size: other.content.length, sha256: spec.sha256, done: [[0, MiB]] }),
    );
    hub.clearRequests();
    const fresh = await downloader().download(other.spec);
    expect(fresh).toMatchObject({ sha256: other.spec.sha256, resumedFromBytes: 0, bytesFetched: other.content.length });
  });

  it('finishes a .partial whose state says every range is done without any request', async () => {
    const { spec, content } = publish(randomBytes(MiB));
    await writeFile(`${spec.destPath}.partial`, content);
    await writeFile(
      partialStatePathOf(spec.destPath),
      JSON.stringify({ version: 1, size: content.length, sha256: spec.sha256, done: [[0, content.length]] }),
    );
    const result = await downloader().download(spec);
    expect(result).toMatchObject({ sha256: spec.sha256, bytesFetched: 0, resumedFromBytes: content.length });
    expect(hub.count('all')).toBe(0);
    expect(existsSync(partialStatePathOf(spec.destPath))).toBe(false);
  });

  it('starts over with one stream when the server answers a ranged request with 200', async () => {
    const { spec, content } = publish(randomBytes(2 * MiB));
    hub.ignoreRange(true);
    const result = await downloader().download(spec);
    expect(result).toMatchObject({ sha256: spec.sha256, resumedFromBytes: 0, bytesFetched: content.length });
    expect(sha256Hex(await readFile(spec.destPath))).toBe(spec.sha256);
    const statuses = cdn().map((r) => [r.status, r.range === null]);
    expect(statuses.at(-1)).toEqual([200, true]);
    expect(statuses.slice(0, -1).every(([status, plain]) => status === 200 && plain === false)).toBe(true);
    expect(existsSync(partialStatePathOf(spec.destPath))).toBe(false);
  });

  it('resumes a piece from where its connection dropped', async () => {
    const { spec, repo, file, content } = publish(randomBytes(2 * MiB));
    hub.truncateAfter({ repo, file, bytes: 100 * KiB, times: 1 });
    const result = await downloader().download(spec);
    expect(result).toMatchObject({ sha256: spec.sha256, retries: 1, bytesFetched: content.length });
    const resumed = rangesAsked().filter((r) => r !== null && r[0] % CHUNK !== 0);
    expect(resumed).toHaveLength(1);
    expect(resumed[0]![0]).toBeGreaterThan(0);
    expect(resumed[0]![0]).toBeLessThanOrEqual(100 * KiB);
    expect(resumed[0]![1]).toBe(CHUNK);
  });

  it('re-resolves an expired signed URL once for every connection and goes on from the bytes on disk', async () => {
    const { spec, content } = publish(randomBytes(4 * MiB));
    hub.throttle({ bytesPerSecond: 2 * MiB });
    let expired = false;
    const result = await downloader().download(spec, {
      onProgress: (p) => {
        if (!expired && p.bytesDone >= MiB) hub.expireIssuedUrls();
        expired ||= p.bytesDone >= MiB;
      },
    });
    expect(result).toMatchObject({ sha256: spec.sha256, bytesFetched: content.length });
    expect(cdn().some((r) => r.status === 403)).toBe(true);
    expect(hub.count('resolve')).toBe(2);
  });

  it('waits as long as a 429 asks on one connection, and retries 5xx', async () => {
    const { spec } = publish(randomBytes(MiB));
    hub.fail({ route: 'cdn', status: 429, times: 1, retryAfterSeconds: 1 });
    hub.fail({ route: 'cdn', status: 503, times: 2 });
    const started = Date.now();
    const result = await downloader().download(spec);
    expect(result).toMatchObject({ sha256: spec.sha256, retries: 3 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('gives up after maxAttempts failures of one connection, retryable, keeping the pieces that arrived', async () => {
    const { spec } = publish(randomBytes(MiB));
    hub.throttle({ bytesPerSecond: 2 });
    const err = await failure(downloader().download(spec, { stallTimeoutMs: 300, maxAttempts: 2 }));
    expect(err).toMatchObject({ code: DownloadErrorCode.STALLED, retryable: true });
    expect(err.details).toMatchObject({ attempts: 2 });
    expect(existsSync(`${spec.destPath}.partial`)).toBe(true);
    expect((await readState(spec.destPath)).sha256).toBe(spec.sha256);
  });

  it('deletes the .partial and its state on a sha256 or size mismatch', async () => {
    const { spec, repo, file } = publish(randomBytes(MiB));
    hub.corrupt({ repo, file, offset: 300 * KiB });
    const bad = await failure(downloader().download(spec));
    expect(bad).toMatchObject({ code: DownloadErrorCode.CHECKSUM_MISMATCH, retryable: false });
    expect(existsSync(`${spec.destPath}.partial`)).toBe(false);
    expect(existsSync(partialStatePathOf(spec.destPath))).toBe(false);

    hub.reset();
    const wrongSize = await failure(downloader().download({ ...spec, size: spec.size + 1 }));
    expect(wrongSize).toMatchObject({ code: DownloadErrorCode.SIZE_MISMATCH, retryable: false });
    expect(existsSync(`${spec.destPath}.partial`)).toBe(false);
    expect(existsSync(partialStatePathOf(spec.destPath))).toBe(false);
  });

  it('checks the GGUF before the rename, as with one stream', async () => {
    const truncated = brokenGguf.truncatedData();
    const chunkBytes = 64 * KiB;
    expect(truncated.length).toBeGreaterThan(2 * chunkBytes);
    const { spec } = publish(truncated);
    const err = await failure(downloader({ chunkBytes }).download(spec, { verify: verifyGgufOrThrow }));
    expect(err.code).toBe(DownloadErrorCode.INVALID_GGUF);
    expect(cdn().length).toBeGreaterThan(1);
    expect(existsSync(`${spec.destPath}.partial`)).toBe(false);
    expect(existsSync(partialStatePathOf(spec.destPath))).toBe(false);
  });

  it('counts only the missing ranges against the free disk space', async () => {
    const { spec, content } = publish(randomBytes(2 * MiB));
    await writeFile(`${spec.destPath}.partial`, content);
    await writeFile(
      partialStatePathOf(spec.destPath),
      JSON.stringify({ version: 1, size: content.length, sha256: spec.sha256, done: [[0, 1.5 * MiB]] }),
    );
    const tight = downloader({ statfs: async () => ({ bavail: 600, bsize: 1024 }) });
    await expect(tight.download(spec, { reserveBytes: 0 })).resolves.toMatchObject({ resumedFromBytes: 1.5 * MiB });
    const none = publish(randomBytes(2 * MiB));
    const err = await failure(tight.download(none.spec, { reserveBytes: 0 }));
    expect(err).toMatchObject({ code: DownloadErrorCode.INSUFFICIENT_DISK });
  });
});
