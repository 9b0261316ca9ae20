import { DownloadError, DownloadErrorCode, isDownloadError } from './download.errors.js';
import type { FileSource, SourceProvider } from './download.types.js';
import { abortedError } from './shared-download.js';
import type { TransferContext } from './transfer-context.js';

/** A peer gets this many attempts for a transient fault before the next source is asked: the Hub is always there. */
const PEER_ATTEMPTS = 2;
/** The window a peer's rate is judged over. */
export const PEER_RATE_WINDOW_MS = 10_000;

/** What one source brought into the file (for the reports once the file's sha256 is known). */
export interface Contribution {
  source: FileSource;
  bytes: number;
}

/**
 * Fetches the missing bytes of the file from the sources `provider` hands out, one at a time: a peer that fails, stalls
 * or is far slower than `minPeerBytesPerSecond` is reported FAILED, excluded, and the next source (another peer or the
 * Hub) resumes from the bytes already written, by Range. A failure of the Hub, of the local disk, or a cancellation
 * ends the call. Returns every source used and what it brought.
 */
export async function transferFromSources(
  ctx: TransferContext,
  provider: SourceProvider,
  excluded: Set<string>,
  minPeerBytesPerSecond: number,
  transfer: () => Promise<void>,
): Promise<Contribution[]> {
  const outer = ctx.signal;
  const baseOpts = ctx.opts;
  const used: Contribution[] = [];
  for (;;) {
    const source = await provider.next(excluded, outer);
    const switcher = new AbortController();
    const onAbort = (): void => switcher.abort(outer.reason);
    if (outer.aborted) onAbort();
    else outer.addEventListener('abort', onAbort, { once: true });
    ctx.signal = switcher.signal;
    ctx.origin = source.url;
    ctx.cdn = null;
    ctx.opts =
      source.kind === 'PEER'
        ? { ...baseOpts, maxAttempts: Math.min(baseOpts.maxAttempts ?? 5, PEER_ATTEMPTS) }
        : baseOpts;
    const before = ctx.fetched;
    const watchdog =
      source.kind === 'PEER' && minPeerBytesPerSecond > 0
        ? slowPeerWatch(ctx, source, switcher, minPeerBytesPerSecond)
        : null;
    try {
      await transfer();
      used.push({ source, bytes: ctx.fetched - before });
      return used;
    } catch (err) {
      const bytes = ctx.fetched - before;
      used.push({ source, bytes });
      const switched: unknown = switcher.signal.reason;
      const error =
        switcher.signal.aborted && !outer.aborted && isDownloadError(switched) ? switched : (err as DownloadError);
      provider.report(source, 'FAILED', bytes, error.message);
      if (outer.aborted) throw abortedError(outer.reason);
      if (source.kind === 'HUB' || !isDownloadError(error) || isLocalFault(error)) throw error;
      excluded.add(source.peerId ?? source.url);
    } finally {
      if (watchdog) clearInterval(watchdog);
      outer.removeEventListener('abort', onAbort);
      ctx.signal = outer;
      ctx.opts = baseOpts;
      ctx.origin = ctx.spec.url;
      ctx.cdn = null;
    }
  }
}

function isLocalFault(error: DownloadError): boolean {
  return error.code === DownloadErrorCode.INSUFFICIENT_DISK || error.code === DownloadErrorCode.IO_ERROR;
}

function slowPeerWatch(
  ctx: TransferContext,
  source: FileSource,
  switcher: AbortController,
  minBytesPerSecond: number,
): NodeJS.Timeout {
  let last = ctx.fetched;
  const timer = setInterval(() => {
    const moved = ctx.fetched - last;
    last = ctx.fetched;
    const rate = moved / (PEER_RATE_WINDOW_MS / 1000);
    if (rate >= minBytesPerSecond) return;
    switcher.abort(
      new DownloadError(
        DownloadErrorCode.STALLED,
        `${source.label} sent ${Math.round(rate)} bytes/s over ${PEER_RATE_WINDOW_MS / 1000} s, below ${minBytesPerSecond}`,
        { retryable: true, details: { bytesPerSecond: rate } },
      ),
    );
  }, PEER_RATE_WINDOW_MS);
  timer.unref();
  return timer;
}
