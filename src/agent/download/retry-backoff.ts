/** Exponential backoff with jitter, and the Hub's hints about when to come back (Retry-After, RateLimit t=). */

export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
  /** In [0, 1); injectable so tests get fixed delays. */
  random?: () => number;
}

/** Delay before retry number `retry` (1-based): base·2^(retry-1), capped, with the upper half jittered. */
export function backoffDelayMs(retry: number, options: BackoffOptions = {}): number {
  const { baseMs = 250, maxMs = 30_000, random = Math.random } = options;
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, retry - 1));
  return Math.round(exp / 2 + (exp / 2) * random());
}

/**
 * Milliseconds the server asked us to wait, from `Retry-After` (seconds or an HTTP date) and the IETF `RateLimit`
 * header the Hub sends (`"api";r=0;t=42`); the larger of the two, or null when neither says anything usable.
 */
export function retryAfterMs(
  headers: { 'retry-after'?: string | string[]; ratelimit?: string | string[] },
  now: number = Date.now(),
): number | null {
  const hints: number[] = [];
  const retryAfter = first(headers['retry-after'])?.trim();
  if (retryAfter) {
    if (/^\d+(\.\d+)?$/.test(retryAfter)) hints.push(Number(retryAfter) * 1000);
    else {
      const at = Date.parse(retryAfter);
      if (!Number.isNaN(at)) hints.push(Math.max(0, at - now));
    }
  }
  const t = /(?:^|[;,\s])t=(\d+)/.exec(first(headers.ratelimit) ?? '')?.[1];
  if (t !== undefined) hints.push(Number(t) * 1000);
  return hints.length > 0 ? Math.max(...hints) : null;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(asError(signal.reason));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(asError(signal?.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Abort reasons are errors here (DownloadError, DOMException); instanceof would miss those of another realm. */
function asError(reason: unknown): Error {
  return typeof reason === 'object' && reason !== null ? (reason as Error) : new Error(String(reason));
}
