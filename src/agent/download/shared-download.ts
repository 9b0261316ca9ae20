import { DownloadError, DownloadErrorCode, isDownloadError } from './download.errors.js';
import type { DownloadOptions, DownloadProgress, DownloadResult, DownloadSpec } from './download.types.js';

/** Several callers of the same file share one transfer; each can cancel its own wait, the last one cancels it. */
export class SharedDownload {
  readonly settled: Promise<void>;
  private readonly result: Promise<DownloadResult>;
  private readonly controller = new AbortController();
  private readonly listeners = new Set<(progress: DownloadProgress) => void>();
  private callers = 0;

  constructor(
    private readonly spec: DownloadSpec,
    run: (signal: AbortSignal, emit: (progress: DownloadProgress) => void) => Promise<DownloadResult>,
  ) {
    // Starts on the next microtask, so the first caller has joined (and its signal is watched) before anything runs.
    this.result = Promise.resolve().then(() => run(this.controller.signal, (p) => this.emit(p)));
    this.settled = this.result.then(
      () => undefined,
      () => undefined,
    );
  }

  /** Whether a new caller can share this transfer: the same bytes, and not being cancelled. */
  serves(spec: DownloadSpec): boolean {
    if (this.controller.signal.aborted) return false;
    return spec.size === this.spec.size && spec.sha256.toLowerCase() === this.spec.sha256.toLowerCase();
  }

  join(opts: DownloadOptions): Promise<DownloadResult> {
    return new Promise<DownloadResult>((resolvePromise, reject) => {
      const { signal, onProgress } = opts;
      this.callers += 1;
      if (onProgress) this.listeners.add(onProgress);
      const leave = (): void => {
        signal?.removeEventListener('abort', onAbort);
        if (onProgress) this.listeners.delete(onProgress);
      };
      const onAbort = (): void => {
        leave();
        this.callers -= 1;
        const error = abortedError(signal?.reason);
        if (this.callers > 0) {
          reject(error);
          return;
        }
        // The last caller gets its answer once the transfer has stopped, so the partial on disk is final by then.
        this.controller.abort(error);
        void this.settled.then(() => reject(error));
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.result.then(
        (r) => {
          leave();
          resolvePromise(r);
        },
        (err: Error) => {
          leave();
          reject(err);
        },
      );
    });
  }

  private emit(progress: DownloadProgress): void {
    for (const listener of this.listeners) {
      try {
        listener(progress);
      } catch {
        // A caller's progress handler must not break the transfer the others wait for.
      }
    }
  }
}

export class ProgressReporter {
  private last = 0;

  constructor(
    private readonly total: number,
    private readonly emit: (progress: DownloadProgress) => void,
    private readonly intervalMs: number,
  ) {}

  update(bytesDone: number): void {
    const now = Date.now();
    if (now - this.last < this.intervalMs) return;
    this.last = now;
    this.emit({ bytesDone, bytesTotal: this.total });
  }

  finish(bytesDone: number): void {
    this.emit({ bytesDone, bytesTotal: this.total });
  }
}

export function abortedError(reason?: unknown): DownloadError {
  if (isDownloadError(reason, DownloadErrorCode.ABORTED)) return reason;
  return new DownloadError(DownloadErrorCode.ABORTED, 'download cancelled; the partial file is kept for a resume', {
    cause: reason,
  });
}
