import { BlockPool } from './block-pool.js';
import { DownloadError, DownloadErrorCode } from './download.errors.js';
import { FileRangeWriter } from './file-range-writer.js';
import { describeUrl, httpGet, parseContentRange } from './http-get.client.js';
import { checkStatus } from './response-check.js';
import { backoffDelayMs, sleep } from './retry-backoff.js';
import { abortedError } from './shared-download.js';
import { gaveUp, refusedSignedUrls, watchAttempt } from './stream-transfer.js';
import { MAX_RE_RESOLVES, type RetryPolicy, type TransferContext } from './transfer-context.js';

export interface ParallelPlan {
  /** Connections at once. */
  connections: number;
  /** Bytes asked per request (the last piece of a gap may be shorter). */
  chunkBytes: number;
}

/** `ranges-unsupported`: the server answered a ranged request with the whole file; only one stream can work. */
export type ParallelOutcome = 'done' | 'ranges-unsupported';

/** Per connection, 1 MiB between the socket and the disk: a CDN caps each stream, so a small buffer keeps up. */
const LANE_BLOCK_BYTES = 256 * 1024;
const LANE_BLOCKS = 4;
/** A failed attempt that still brought this much resets its connection's count of failures. */
const PROGRESS_THAT_COUNTS = 1024 * 1024;

/**
 * Several connections at once, each asking for one piece of the missing bytes (`Range: bytes=a-b`) and writing it at its
 * offset in the `.partial`, as Ollama and hf_transfer do: a CDN caps each connection, not the client. Pieces are
 * handed out in file order, so the bytes complete from the front and the hashing thread follows close behind.
 * Each connection retries its own transient faults from the bytes it wrote; one Hub resolve is shared by all, and
 * an expired signed URL is re-resolved once for all of them.
 */
export async function parallelTransfer(
  ctx: TransferContext,
  policy: RetryPolicy,
  plan: ParallelPlan,
): Promise<ParallelOutcome> {
  return new ParallelRun(ctx, policy, plan).run();
}

type Piece = [number, number];

class ParallelRun {
  private readonly queue: Piece[];
  private readonly stop = new AbortController();
  private fatal: DownloadError | null = null;
  private unsupported = false;
  private reResolves = 0;
  /** Set while one connection asks the Hub for the CDN URL; the others wait for its answer instead of asking too. */
  private resolving: Promise<void> | null = null;

  constructor(
    private readonly ctx: TransferContext,
    private readonly policy: RetryPolicy,
    private readonly plan: ParallelPlan,
  ) {
    this.queue = ctx.ranges.missing(ctx.spec.size, plan.chunkBytes);
  }

  async run(): Promise<ParallelOutcome> {
    const { signal } = this.ctx;
    const onAbort = (): void => this.stop.abort(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    try {
      const lanes = Math.max(1, Math.min(this.plan.connections, this.queue.length));
      await Promise.all(Array.from({ length: lanes }, () => this.lane()));
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    if (signal.aborted) throw abortedError(signal.reason);
    if (this.fatal) throw this.fatal;
    if (this.unsupported) return 'ranges-unsupported';
    const done = this.ctx.ranges.total();
    if (done < this.ctx.spec.size) {
      throw new DownloadError(DownloadErrorCode.NETWORK, `only ${done} of ${this.ctx.spec.size} bytes arrived`);
    }
    return 'done';
  }

  /** One connection: takes pieces from the queue until it is empty; never rejects. */
  private async lane(): Promise<void> {
    const maxAttempts = Math.max(1, this.ctx.opts.maxAttempts ?? 5);
    let failures = 0;
    let piece: Piece | undefined;
    const pool = new BlockPool(LANE_BLOCK_BYTES, LANE_BLOCKS);
    while (!this.stop.signal.aborted) {
      const current = piece ?? this.queue.shift();
      if (!current) return;
      piece = current;
      const before = current[0];
      const used: { url: URL | null } = { url: null };
      try {
        await this.fetch(current, used, pool);
        if (current[0] >= current[1]) piece = undefined;
        failures = 0;
      } catch (err) {
        if (this.stop.signal.aborted) return;
        const error = err as DownloadError;
        if (current[0] > before) this.reResolves = 0;
        // A trickle is no progress: a connection that keeps failing after a few bytes gives up all the same.
        if (current[0] - before >= PROGRESS_THAT_COUNTS) failures = 0;
        if (error.details['rangeIgnored'] === true || error.details['restartFromZero'] === true) {
          this.unsupported = true;
          this.stop.abort(error);
          return;
        }
        if (!error.retryable) return this.failAll(error);
        if (error.details['reResolve'] === true) {
          if (used.url !== null && this.ctx.cdn?.href === used.url.href) {
            this.ctx.cdn = null;
            this.reResolves += 1;
          }
          if (this.reResolves > MAX_RE_RESOLVES) return this.failAll(refusedSignedUrls(this.ctx.spec.url, error));
          this.ctx.retries += 1;
          continue;
        }
        failures += 1;
        const wait = (error.details['retryAfterMs'] as number | undefined) ?? backoffDelayMs(failures, this.policy);
        if (failures >= maxAttempts || wait > this.policy.maxRetryDelayMs) return this.failAll(gaveUp(error, failures));
        this.ctx.retries += 1;
        try {
          await sleep(wait, this.stop.signal);
        } catch {
          return;
        }
      }
    }
  }

  private failAll(error: DownloadError): void {
    this.fatal ??= error;
    this.stop.abort(error);
  }

  /** The URL to ask: the CDN's once known; otherwise the Hub, by one connection at a time. */
  private async source(): Promise<{ url: URL; cached: boolean; release: () => void }> {
    for (;;) {
      if (this.ctx.cdn) return { url: this.ctx.cdn, cached: true, release: () => undefined };
      if (this.resolving === null) {
        let release: () => void = () => undefined;
        const resolving = new Promise<void>((resolve) => (release = resolve));
        this.resolving = resolving;
        return {
          url: new URL(this.ctx.origin),
          cached: false,
          release: () => {
            if (this.resolving === resolving) this.resolving = null;
            release();
          },
        };
      }
      await this.resolving;
    }
  }

  /** One ranged GET for the rest of `piece`, written at its offset; `piece[0]` follows the bytes written. */
  private async fetch(piece: Piece, used: { url: URL | null }, pool: BlockPool): Promise<void> {
    const { ctx } = this;
    const { spec, opts } = ctx;
    const watch = watchAttempt(ctx.origin, opts.stallTimeoutMs ?? 30_000, this.stop.signal, () => ctx.ranges.total());
    let writer: FileRangeWriter | undefined;
    let release: () => void = () => undefined;
    try {
      const source = await this.source();
      release = source.release;
      used.url = source.url;
      const { res, url, redirects } = await httpGet(source.url, {
        from: piece[0],
        to: piece[1] - 1,
        token: opts.token,
        tokenOrigin: new URL(spec.url).origin,
        signal: watch.signal,
        userAgent: this.policy.userAgent,
      });
      watch.alive();
      used.url = url;
      // Only a fresh resolve sets the CDN URL: a connection answered on a stale one must not bring it back.
      if (!source.cached && redirects > 0) ctx.cdn = url;
      release();
      checkStatus(res, url, { fromHub: !source.cached && redirects === 0, offset: piece[0], size: spec.size });
      if (res.statusCode !== 206) {
        res.destroy();
        throw new DownloadError(
          DownloadErrorCode.HTTP_ERROR,
          `${describeUrl(url)} answered a Range request with ${res.statusCode}`,
          { details: { rangeIgnored: true }, retryable: true },
        );
      }
      const rangeEnd = (parseContentRange(res.headers['content-range'])?.end ?? piece[1] - 1) + 1;
      writer = new FileRangeWriter({
        fd: ctx.file.fd,
        position: piece[0],
        limit: piece[1],
        pool,
        onWritten: (at, bytes) => {
          piece[0] = Math.max(piece[0], at + bytes);
          ctx.onWritten(at, bytes);
          watch.alive();
        },
      });
      await writer.consume(res);
      await writer.idle();
      // A 206 may hold fewer bytes than asked (the lane asks for the rest), never fewer than it announced.
      if (piece[0] < Math.min(rangeEnd, piece[1])) {
        throw new DownloadError(
          DownloadErrorCode.NETWORK,
          `the body from ${describeUrl(url)} ended at byte ${piece[0]}, before ${rangeEnd}`,
          { details: { truncatedAt: piece[0] } },
        );
      }
    } catch (err) {
      await writer?.idle();
      throw watch.explain(err, writer?.failure ?? null, used.url ?? ctx.origin);
    } finally {
      release();
      watch.done();
      await writer?.idle();
    }
  }
}
