import type { FileHandle } from 'node:fs/promises';
import { ByteRanges } from './byte-ranges.js';
import type { DownloadOptions, DownloadSpec } from './download.types.js';
import type { FileHasher } from './file-hasher.js';
import type { ProgressReporter } from './shared-download.js';

/** What FileDownloader's options say about retrying, for the transfers it runs. */
export interface RetryPolicy {
  /** Longest wait between two attempts, Retry-After included; a longer Retry-After fails RATE_LIMITED. */
  maxRetryDelayMs: number;
  userAgent?: string;
  /** In [0, 1): jitter of the backoff. */
  random?: () => number;
}

/** A fresh signed URL that the CDN still refuses this many times in a row is an access problem, not an expiry. */
export const MAX_RE_RESOLVES = 2;

/**
 * One download's shared state while bytes move: the open `.partial`, which ranges of it are written, the hashing
 * thread and the periodic sync that follow them, the CDN URL the Hub redirected to, and the figures for the result.
 */
export class TransferContext {
  /** Bytes of the `.partial` written (in this call or kept from an earlier one). */
  ranges: ByteRanges;
  /** The CDN URL the Hub redirected to, reused until it is refused. */
  cdn: URL | null = null;
  /** The URL of the source being fetched from: the Hub's (the spec's URL) or a peer's. */
  origin: string;
  resumedFrom: number;
  /** Body bytes received in this call. */
  fetched = 0;
  retries = 0;
  /** Told of every write (the periodic fdatasync). */
  sync: { wrote(bytes: number): void } | null = null;

  constructor(
    readonly spec: DownloadSpec,
    public opts: DownloadOptions,
    readonly file: FileHandle,
    readonly hasher: FileHasher,
    readonly progress: ProgressReporter,
    /** The current source's signal (the caller's, merged with a source switch's). */
    public signal: AbortSignal,
    kept: ByteRanges,
  ) {
    this.origin = spec.url;
    this.ranges = kept;
    this.resumedFrom = kept.total();
  }

  /** After every completed write into the `.partial`. */
  readonly onWritten = (at: number, bytes: number): void => {
    this.ranges.add(at, at + bytes);
    this.fetched += bytes;
    this.sync?.wrote(bytes);
    this.hasher.advance(this.ranges.contiguousEnd());
    this.progress.update(this.ranges.total());
  };

  /** The server cannot resume: drop every byte kept and hash from zero. */
  async restartFromZero(): Promise<void> {
    await this.file.truncate(0);
    this.ranges = new ByteRanges();
    this.resumedFrom = 0;
    this.hasher.reset();
  }
}
