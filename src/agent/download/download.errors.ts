/** Why a file download failed on a node; the job layer decides from `code` and `retryable` what to do next. */
export enum DownloadErrorCode {
  CHECKSUM_MISMATCH = 'CHECKSUM_MISMATCH',
  SIZE_MISMATCH = 'SIZE_MISMATCH',
  INVALID_GGUF = 'INVALID_GGUF',
  INSUFFICIENT_DISK = 'INSUFFICIENT_DISK',
  NOT_FOUND = 'NOT_FOUND',
  UNAUTHORIZED = 'UNAUTHORIZED',
  RATE_LIMITED = 'RATE_LIMITED',
  HTTP_ERROR = 'HTTP_ERROR',
  STALLED = 'STALLED',
  NETWORK = 'NETWORK',
  ABORTED = 'ABORTED',
  /** The local disk refused a write or a rename for another reason than space (EIO, EACCES, EROFS...). */
  IO_ERROR = 'IO_ERROR',
}

const RETRYABLE_BY_DEFAULT: ReadonlySet<DownloadErrorCode> = new Set([
  DownloadErrorCode.RATE_LIMITED,
  DownloadErrorCode.STALLED,
  DownloadErrorCode.NETWORK,
]);

export interface DownloadErrorOptions {
  /** Default: true for RATE_LIMITED, STALLED, NETWORK; false otherwise (HTTP_ERROR passes it: 5xx yes, 4xx no). */
  retryable?: boolean;
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class DownloadError extends Error {
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    readonly code: DownloadErrorCode,
    message: string,
    options: DownloadErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DownloadError';
    this.retryable = options.retryable ?? RETRYABLE_BY_DEFAULT.has(code);
    this.details = options.details ?? {};
  }
}

export function isDownloadError(err: unknown, code?: DownloadErrorCode): err is DownloadError {
  return err instanceof DownloadError && (code === undefined || err.code === code);
}
