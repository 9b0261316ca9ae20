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
  /** Where to fetch from (peer copy): asked before the transfer and after each failed source. Default: the Hub only. */
  sources?: SourceProvider;
  /** A peer source slower than this over 10 s is left for the next source (0: never). Default 0. */
  minPeerBytesPerSecond?: number;
}

/** One place the bytes of a file can come from. */
export interface FileSource {
  kind: 'HUB' | 'PEER';
  /** Where to GET the file (a peer's URL carries its grant in the query, which logs and messages leave out). */
  url: string;
  /** The peer's node id (what the exclusion list holds). */
  peerId: string | null;
  /** For messages: `the Hub`, `peer node-b`. */
  label: string;
}

/**
 * Chooses sources for one file (the control plane, for a fleet agent) and hears how each went. `next` may wait (a
 * peer is about to have the file) and honours `signal`; `excluded` are peers that failed during this download.
 */
export interface SourceProvider {
  next(excluded: ReadonlySet<string>, signal: AbortSignal): Promise<FileSource>;
  /** `bytes`: what this source delivered into the file. Called once per source, BAD_BYTES possibly after FAILED. */
  report(source: FileSource, outcome: 'DONE' | 'FAILED' | 'BAD_BYTES', bytes: number, message?: string): void;
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
