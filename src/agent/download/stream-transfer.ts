import { BlockPool } from './block-pool.js';
import { DownloadError, DownloadErrorCode, isDownloadError } from './download.errors.js';
import { FileRangeWriter } from './file-range-writer.js';
import { describeUrl, httpGet } from './http-get.client.js';
import { checkStatus } from './response-check.js';
import { backoffDelayMs, sleep } from './retry-backoff.js';
import { MAX_RE_RESOLVES, type RetryPolicy, type TransferContext } from './transfer-context.js';

/** 4 MiB between the socket and the disk: enough for writev to batch while the disk is busy. */
const STREAM_BLOCK_BYTES = 512 * 1024;
const STREAM_BLOCKS = 8;

/**
 * One connection, in order, until the whole file is on disk: each attempt asks for the rest (`Range: bytes=<done>-`),
 * transient faults are retried from the bytes already written, a 200 to a ranged request starts over.
 */
export async function streamTransfer(ctx: TransferContext, policy: RetryPolicy): Promise<void> {
  const { spec, opts, signal } = ctx;
  const maxAttempts = Math.max(1, opts.maxAttempts ?? 5);
  let failures = 0;
  let reResolves = 0;
  const pool = new BlockPool(STREAM_BLOCK_BYTES, STREAM_BLOCKS);
  while (ctx.ranges.total() < spec.size) {
    const before = ctx.ranges.total();
    try {
      await attempt(ctx, policy, pool);
      continue;
    } catch (err) {
      const error = err as DownloadError;
      if (!error.retryable) throw error;
      if (ctx.ranges.total() > before) reResolves = 0;
      if (error.details['reResolve'] === true) {
        ctx.cdn = null;
        reResolves += 1;
        if (reResolves > MAX_RE_RESOLVES) throw refusedSignedUrls(spec.url, error);
        ctx.retries += 1;
        continue;
      }
      if (error.details['restartFromZero'] === true) await ctx.restartFromZero();
      failures += 1;
      const wait = (error.details['retryAfterMs'] as number | undefined) ?? backoffDelayMs(failures, policy);
      if (failures >= maxAttempts || wait > policy.maxRetryDelayMs) throw gaveUp(error, failures);
      ctx.retries += 1;
      await sleep(wait, signal);
    }
  }
}

/** One GET (following redirects) streamed to disk from the end of what is written; throws a DownloadError. */
async function attempt(ctx: TransferContext, policy: RetryPolicy, pool: BlockPool): Promise<void> {
  const { spec, opts, signal } = ctx;
  const from = ctx.ranges.total();
  const watch = watchAttempt(ctx.origin, opts.stallTimeoutMs ?? 30_000, signal, () => ctx.ranges.total());
  let writer: FileRangeWriter | undefined;
  try {
    const cached = ctx.cdn;
    const { res, url, redirects } = await httpGet(cached ?? new URL(ctx.origin), {
      from,
      token: opts.token,
      tokenOrigin: new URL(spec.url).origin,
      signal: watch.signal,
      userAgent: policy.userAgent,
    });
    watch.alive();
    checkStatus(res, url, { fromHub: cached === null && redirects === 0, offset: from, size: spec.size });
    if (res.statusCode === 200 && from > 0) await ctx.restartFromZero();
    if (cached !== null || redirects > 0) ctx.cdn = url;
    const position = ctx.ranges.total();
    writer = new FileRangeWriter({
      fd: ctx.file.fd,
      position,
      limit: spec.size,
      pool,
      onWritten: (at, bytes) => {
        ctx.onWritten(at, bytes);
        watch.alive();
      },
    });
    await writer.consume(res);
    await writer.idle();
    if (ctx.ranges.total() < spec.size) {
      throw new DownloadError(
        DownloadErrorCode.NETWORK,
        `the body from ${describeUrl(url)} ended at byte ${ctx.ranges.total()} of ${spec.size}`,
        { details: { truncatedAt: ctx.ranges.total() } },
      );
    }
  } catch (err) {
    await writer?.idle();
    throw watch.explain(err, writer?.failure ?? null, ctx.cdn ?? ctx.origin);
  } finally {
    watch.done();
    // A destroyed writer may still have a write in flight: the offset must be final before the next attempt.
    await writer?.idle();
  }
}

/** A stall watchdog and the caller's cancellation, merged into the signal of one request. */
export interface AttemptWatch {
  signal: AbortSignal;
  /** Bytes (or headers) arrived: the stall clock starts again. */
  alive(): void;
  /** The DownloadError an attempt's failure means (a stall, a cancellation, a disk or network fault). */
  explain(err: unknown, diskFailure: DownloadError | null, where: URL | string): DownloadError;
  done(): void;
}

export function watchAttempt(url: string, stallMs: number, signal: AbortSignal, bytesDone: () => number): AttemptWatch {
  const controller = new AbortController();
  const stalled = (): void =>
    controller.abort(
      new DownloadError(DownloadErrorCode.STALLED, `no data for ${stallMs} ms from ${describeUrl(url)}`, {
        details: { stallTimeoutMs: stallMs, bytesDone: bytesDone() },
      }),
    );
  const watchdog = setTimeout(stalled, stallMs);
  const onAbort = (): void => controller.abort(signal.reason);
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    alive: () => watchdog.refresh(),
    explain: (err, diskFailure, where) => {
      if (diskFailure) return diskFailure;
      const reason: unknown = controller.signal.reason;
      if (controller.signal.aborted && isDownloadError(reason)) return reason;
      if (isDownloadError(err)) return err;
      const e = err as NodeJS.ErrnoException;
      return new DownloadError(
        DownloadErrorCode.NETWORK,
        `${describeUrl(where)}: ${e.message}${e.code ? ` (${e.code})` : ''} at byte ${bytesDone()}`,
        { details: { errno: e.code, bytesDone: bytesDone() }, cause: err },
      );
    },
    done: () => {
      clearTimeout(watchdog);
      signal.removeEventListener('abort', onAbort);
    },
  };
}

export function refusedSignedUrls(url: string, error: DownloadError): DownloadError {
  return new DownloadError(
    DownloadErrorCode.UNAUTHORIZED,
    `the CDN keeps refusing freshly signed URLs for ${describeUrl(url)} (${String(error.details['status'])})`,
    { details: error.details },
  );
}

export function gaveUp(error: DownloadError, failures: number): DownloadError {
  return new DownloadError(error.code, `${error.message} (gave up after ${failures} attempts)`, {
    retryable: true,
    details: { ...error.details, attempts: failures },
    cause: error,
  });
}
