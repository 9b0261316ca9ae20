import { DownloadError, DownloadErrorCode } from './download.errors.js';
import { describeUrl, parseContentRange, type HttpResponse } from './http-get.client.js';
import { retryAfterMs } from './retry-backoff.js';

/** Turns a non-2xx answer (or a 2xx that does not fit the file) into the DownloadError it means. */
export function checkStatus(res: HttpResponse, url: URL, at: { fromHub: boolean; offset: number; size: number }): void {
  const status = res.statusCode ?? 0;
  const where = describeUrl(url);
  const fail = (code: DownloadErrorCode, message: string, extra: Record<string, unknown> = {}, retryable?: boolean) => {
    res.resume();
    const hubError = res.headers['x-error-code'] ?? res.headers['x-error-message'];
    const suffix = typeof hubError === 'string' ? ` (${hubError})` : '';
    return new DownloadError(code, `${message}${suffix}`, {
      details: { status, url: where, ...extra },
      ...(retryable === undefined ? {} : { retryable }),
    });
  };
  if (status === 200) {
    const length = res.headers['content-length'];
    if (length !== undefined && Number(length) !== at.size) {
      throw fail(DownloadErrorCode.SIZE_MISMATCH, `${where} has ${length} bytes, expected ${at.size}`);
    }
    return;
  }
  if (status === 206) {
    const range = parseContentRange(res.headers['content-range']);
    if (range?.total != null && range.total !== at.size) {
      throw fail(DownloadErrorCode.SIZE_MISMATCH, `${where} has ${range.total} bytes, expected ${at.size}`);
    }
    if (range?.start !== at.offset) {
      // A 206 for other bytes than asked cannot be appended: start the file over.
      throw fail(
        DownloadErrorCode.HTTP_ERROR,
        `${where} answered a Range request for byte ${at.offset} with ${res.headers['content-range'] ?? 'no Content-Range'}`,
        { restartFromZero: true },
        true,
      );
    }
    return;
  }
  if (status === 416 && at.offset > 0) {
    throw fail(
      DownloadErrorCode.HTTP_ERROR,
      `${where} cannot serve from byte ${at.offset} (416)`,
      { restartFromZero: true },
      true,
    );
  }
  if (!at.fromHub && (status === 403 || status === 410)) {
    // A signed CDN URL that expired: ask the Hub for a fresh one and go on from the bytes on disk.
    throw fail(DownloadErrorCode.HTTP_ERROR, `${where} refused the signed URL (${status})`, { reResolve: true }, true);
  }
  if (status === 401 || status === 403) {
    throw fail(DownloadErrorCode.UNAUTHORIZED, `${where} refused access (${status})`);
  }
  if (status === 404 || status === 410) throw fail(DownloadErrorCode.NOT_FOUND, `${where} was not found (${status})`);
  if (status === 429) {
    const wait = retryAfterMs(res.headers);
    throw fail(
      DownloadErrorCode.RATE_LIMITED,
      `${where} is rate limiting us (429)`,
      wait === null ? {} : { retryAfterMs: wait },
    );
  }
  const transient = status === 408 || status >= 500;
  throw fail(DownloadErrorCode.HTTP_ERROR, `${where} answered ${status}`, {}, transient);
}
