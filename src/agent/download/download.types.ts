/** What FileDownloader takes and gives back; shared with the agent code that drives downloads. */

export interface DownloadSpec {
  /** The Hub URL (`{HF_ENDPOINT}/{repo}/resolve/{commit}/{file}`); redirects are followed from here. */
  url: string;
  destPath: string;
  size: number;
  /** Lowercase or uppercase hex. */
  sha256: string;
}

export interface DownloadProgress {
  /** Bytes of the file on disk, the resumed prefix included. */
  bytesDone: number;
  bytesTotal: number;
}

export interface DownloadOptions {
  /** Sent as `Authorization: Bearer` to the Hub's host only. */
  token?: string;
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
  /** No byte for this long aborts the attempt as STALLED (retried). Default 30000. */
  stallTimeoutMs?: number;
  /** Attempts in this call before a transient fault is given up on (the partial stays for the next call). Default 5. */
  maxAttempts?: number;
  /** Free space to leave on the disk. Default 256 MiB. */
  reserveBytes?: number;
  /** Extra check of the complete, sha256-verified `.partial` before the rename; a throw fails with INVALID_GGUF. */
  verify?: (partialPath: string) => Promise<void>;
}

export interface DownloadResult {
  path: string;
  sha256: string;
  /** Bytes of an existing `.partial` that were kept (0 when none, or when the server ignored Range). */
  resumedFromBytes: number;
  /** Body bytes received in this call. */
  bytesFetched: number;
  /** The destination already held the right bytes: no request was made. */
  skipped: boolean;
  /** Transient faults retried inside this call (truncations, stalls, 5xx, 429, expired signed URLs). */
  retries: number;
}

export type StatFs = (dir: string) => Promise<{ bavail: number | bigint; bsize: number | bigint }>;
