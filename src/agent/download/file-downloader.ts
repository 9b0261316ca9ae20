import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rename, rm, statfs, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DownloadError, DownloadErrorCode, isDownloadError } from './download.errors.js';
import type { DownloadOptions, DownloadProgress, DownloadResult, DownloadSpec, StatFs } from './download.types.js';
import { diskError, HashingFileWriter } from './hashing-file-writer.js';
import { describeUrl, httpGet } from './http-get.client.js';
import { hashFilePrefix, holdsExpectedBytes, syncDirectory, usablePartialLength } from './partial-file.js';
import { checkStatus } from './response-check.js';
import { backoffDelayMs, sleep } from './retry-backoff.js';
import { abortedError, ProgressReporter, SharedDownload } from './shared-download.js';

export type { DownloadOptions, DownloadProgress, DownloadResult, DownloadSpec, StatFs } from './download.types.js';

export interface FileDownloaderOptions {
  /** Free-space probe of the destination directory (default `fs.promises.statfs`). */
  statfs?: StatFs;
  /** Longest wait between two attempts, Retry-After included; a longer Retry-After fails RATE_LIMITED. Default 60000. */
  maxRetryDelayMs?: number;
  /** Minimum interval between progress callbacks. Default 100. */
  progressIntervalMs?: number;
  userAgent?: string;
  /** In [0, 1): jitter of the backoff. */
  random?: () => number;
}

const MiB = 1024 * 1024;
const DEFAULT_RESERVE_BYTES = 256 * MiB;
/** A fresh signed URL that the CDN still refuses this many times in a row is an access problem, not an expiry. */
const MAX_RE_RESOLVES = 2;

/** One download per destination file in this process, whichever FileDownloader instance asked. */
const inFlight = new Map<string, SharedDownload>();

/**
 * Downloads one file from the Hub into place: disk-space preflight, resumable `.partial`, sha256 while streaming,
 * transient faults retried with backoff inside the call, size + sha256 + `verify` before an atomic rename.
 */
export class FileDownloader {
  constructor(private readonly options: FileDownloaderOptions = {}) {}

  async download(spec: DownloadSpec, opts: DownloadOptions = {}): Promise<DownloadResult> {
    validateSpec(spec);
    const key = resolve(spec.destPath);
    for (let running = inFlight.get(key); running; running = inFlight.get(key)) {
      // The same bytes for the same path: share the transfer. Other bytes, or one being cancelled: wait, then go.
      if (running.serves(spec)) return running.join(opts);
      await running.settled;
    }
    const shared = new SharedDownload(spec, (signal, emit) =>
      this.run(spec, opts, signal, emit).catch((err: unknown) => Promise.reject(asDownloadError(err))),
    );
    inFlight.set(key, shared);
    void shared.settled.then(() => {
      if (inFlight.get(key) === shared) inFlight.delete(key);
    });
    return shared.join(opts);
  }

  private async run(
    spec: DownloadSpec,
    opts: DownloadOptions,
    signal: AbortSignal,
    emit: (progress: DownloadProgress) => void,
  ): Promise<DownloadResult> {
    const expected = spec.sha256.toLowerCase();
    const partialPath = `${spec.destPath}.partial`;
    const dir = dirname(resolve(spec.destPath));
    const progress = new ProgressReporter(spec.size, emit, this.options.progressIntervalMs ?? 100);
    throwIfAborted(signal);

    if (await holdsExpectedBytes(spec.destPath, spec.size, expected, signal)) {
      progress.finish(spec.size);
      return { path: spec.destPath, sha256: expected, resumedFromBytes: 0, bytesFetched: 0, skipped: true, retries: 0 };
    }
    await mkdir(dir, { recursive: true });
    const kept = await usablePartialLength(partialPath, spec.size);
    // A complete .partial (a crash between fsync and rename) needs no room: it is only verified and renamed.
    if (kept < spec.size) await this.ensureFreeSpace(dir, spec.size - kept, opts.reserveBytes ?? DEFAULT_RESERVE_BYTES);

    const file = await open(partialPath, constants.O_RDWR | constants.O_CREAT, 0o644);
    let fileOpen = true;
    const closeFile = async (): Promise<void> => {
      if (fileOpen) await file.close();
      fileOpen = false;
    };
    try {
      await file.truncate(kept);
      const hash = createHash('sha256');
      if (kept > 0) await hashFilePrefix(partialPath, kept, hash, signal);
      const state: TransferState = { offset: kept, hash, resumedFrom: kept, fetched: 0, retries: 0, cdn: null };
      await this.transfer(spec, opts, { file, state, signal, progress });

      const actual = state.hash.digest('hex');
      if (actual !== expected) {
        await closeFile();
        await rm(partialPath, { force: true });
        throw new DownloadError(
          DownloadErrorCode.CHECKSUM_MISMATCH,
          `sha256 of ${describeUrl(spec.url)} is ${actual}, expected ${expected}; the partial file was deleted`,
          { details: { expected, actual, resumedFromBytes: state.resumedFrom } },
        );
      }
      await verifyOrDelete(opts.verify, partialPath, closeFile);
      await file.sync();
      await closeFile();
      await rename(partialPath, spec.destPath).catch((err: NodeJS.ErrnoException) => Promise.reject(diskError(err)));
      await syncDirectory(dir);
      progress.finish(spec.size);
      return {
        path: spec.destPath,
        sha256: actual,
        resumedFromBytes: state.resumedFrom,
        bytesFetched: state.fetched,
        skipped: false,
        retries: state.retries,
      };
    } finally {
      await closeFile();
    }
  }

  /** Attempts until the whole file is on disk, retrying transient faults from the bytes already written. */
  private async transfer(spec: DownloadSpec, opts: DownloadOptions, ctx: AttemptContext): Promise<void> {
    const { state, signal } = ctx;
    const maxAttempts = Math.max(1, opts.maxAttempts ?? 5);
    let failures = 0;
    let reResolves = 0;
    while (state.offset < spec.size) {
      const before = state.offset;
      try {
        await this.attempt(spec, opts, ctx);
        continue;
      } catch (err) {
        const error = err as DownloadError;
        if (error.code === DownloadErrorCode.SIZE_MISMATCH) await rm(`${spec.destPath}.partial`, { force: true });
        if (!error.retryable) throw error;
        if (state.offset > before) reResolves = 0;
        if (error.details['reResolve'] === true) {
          state.cdn = null;
          reResolves += 1;
          if (reResolves > MAX_RE_RESOLVES) {
            throw new DownloadError(
              DownloadErrorCode.UNAUTHORIZED,
              `the CDN keeps refusing freshly signed URLs for ${describeUrl(spec.url)} (${String(error.details['status'])})`,
              { details: error.details },
            );
          }
          state.retries += 1;
          continue;
        }
        if (error.details['restartFromZero'] === true) await restartFromZero(ctx);
        failures += 1;
        const wait = (error.details['retryAfterMs'] as number | undefined) ?? backoffDelayMs(failures, this.backoff());
        if (failures >= maxAttempts || wait > (this.options.maxRetryDelayMs ?? 60_000)) {
          throw new DownloadError(error.code, `${error.message} (gave up after ${failures} attempts)`, {
            retryable: true,
            details: { ...error.details, attempts: failures },
            cause: error,
          });
        }
        state.retries += 1;
        await sleep(wait, signal);
      }
    }
  }

  /** One GET (following redirects) streamed to disk from `state.offset`; throws a DownloadError on any failure. */
  private async attempt(spec: DownloadSpec, opts: DownloadOptions, ctx: AttemptContext): Promise<void> {
    const { state, signal } = ctx;
    const stallMs = opts.stallTimeoutMs ?? 30_000;
    const controller = new AbortController();
    const stalled = (): void =>
      controller.abort(
        new DownloadError(DownloadErrorCode.STALLED, `no data for ${stallMs} ms from ${describeUrl(spec.url)}`, {
          details: { stallTimeoutMs: stallMs, bytesDone: state.offset },
        }),
      );
    const watchdog = setTimeout(stalled, stallMs);
    const onAbort = (): void => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    let writer: HashingFileWriter | undefined;
    try {
      const cached = state.cdn;
      const { res, url, redirects } = await httpGet(cached ?? new URL(spec.url), {
        from: state.offset,
        token: opts.token,
        tokenOrigin: new URL(spec.url).origin,
        signal: controller.signal,
        userAgent: this.options.userAgent,
      });
      watchdog.refresh();
      checkStatus(res, url, { fromHub: cached === null && redirects === 0, offset: state.offset, size: spec.size });
      if (res.statusCode === 200 && state.offset > 0) await restartFromZero(ctx);
      if (cached !== null || redirects > 0) state.cdn = url;
      writer = new HashingFileWriter({
        fd: ctx.file.fd,
        position: state.offset,
        hash: state.hash,
        limit: spec.size,
        onWritten: (bytes) => {
          state.offset += bytes;
          state.fetched += bytes;
          watchdog.refresh();
          ctx.progress.update(state.offset);
        },
      });
      await pipeline(res, writer);
      await writer.idle();
      if (state.offset < spec.size) {
        throw new DownloadError(
          DownloadErrorCode.NETWORK,
          `the body from ${describeUrl(url)} ended at byte ${state.offset} of ${spec.size}`,
          { details: { truncatedAt: state.offset } },
        );
      }
    } catch (err) {
      await writer?.idle();
      if (writer?.failure) throw writer.failure;
      const reason: unknown = controller.signal.reason;
      if (controller.signal.aborted && isDownloadError(reason)) throw reason;
      if (isDownloadError(err)) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new DownloadError(
        DownloadErrorCode.NETWORK,
        `${describeUrl(state.cdn ?? spec.url)}: ${e.message}${e.code ? ` (${e.code})` : ''} at byte ${state.offset}`,
        { details: { errno: e.code, bytesDone: state.offset }, cause: err },
      );
    } finally {
      clearTimeout(watchdog);
      signal.removeEventListener('abort', onAbort);
      // A destroyed writer may still have a write in flight: the offset must be final before the next attempt.
      await writer?.idle();
    }
  }

  private async ensureFreeSpace(dir: string, remaining: number, reserve: number): Promise<void> {
    const fs = await (this.options.statfs ?? statfs)(dir);
    const available = Number(BigInt(fs.bavail) * BigInt(fs.bsize));
    if (available < remaining + reserve) {
      throw new DownloadError(
        DownloadErrorCode.INSUFFICIENT_DISK,
        `not enough free space in ${dir}: ${remaining} bytes to download plus ${reserve} to keep free, ${available} available`,
        { details: { dir, required: remaining, reserve, available } },
      );
    }
  }

  private backoff(): { random?: () => number } {
    return this.options.random ? { random: this.options.random } : {};
  }
}

interface TransferState {
  offset: number;
  hash: ReturnType<typeof createHash>;
  resumedFrom: number;
  fetched: number;
  retries: number;
  /** The CDN URL the Hub redirected to, reused by later attempts until it is refused. */
  cdn: URL | null;
}

interface AttemptContext {
  file: FileHandle;
  state: TransferState;
  signal: AbortSignal;
  progress: ProgressReporter;
}

async function restartFromZero(ctx: AttemptContext): Promise<void> {
  await ctx.file.truncate(0);
  ctx.state.offset = 0;
  ctx.state.resumedFrom = 0;
  ctx.state.hash = createHash('sha256');
}

/** Local filesystem failures (mkdir, open, rename) reach the caller as IO_ERROR / INSUFFICIENT_DISK too. */
function asDownloadError(err: unknown): Error {
  if (isDownloadError(err)) return err;
  const e = err as NodeJS.ErrnoException;
  return typeof e.code === 'string' && e.code.startsWith('E') ? diskError(e) : e;
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortedError(signal.reason);
}

function validateSpec(spec: DownloadSpec): void {
  if (!Number.isSafeInteger(spec.size) || spec.size < 0) throw new TypeError(`invalid size ${spec.size}`);
  if (!/^[0-9a-f]{64}$/i.test(spec.sha256)) throw new TypeError(`invalid sha256 ${spec.sha256}`);
  if (!/^https?:$/.test(new URL(spec.url).protocol)) throw new TypeError(`unsupported URL ${describeUrl(spec.url)}`);
  if (spec.destPath === '') throw new TypeError('empty destPath');
}

async function verifyOrDelete(
  verify: DownloadOptions['verify'],
  partialPath: string,
  closeFile: () => Promise<void>,
): Promise<void> {
  if (!verify) return;
  try {
    await verify(partialPath);
  } catch (err) {
    await closeFile();
    await rm(partialPath, { force: true });
    if (isDownloadError(err, DownloadErrorCode.INVALID_GGUF)) throw err;
    throw new DownloadError(
      DownloadErrorCode.INVALID_GGUF,
      `the downloaded file failed verification: ${(err as Error | undefined)?.message ?? String(err)}`,
      { cause: err },
    );
  }
}
