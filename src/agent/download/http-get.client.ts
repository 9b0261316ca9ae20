import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { DownloadError, DownloadErrorCode } from './download.errors.js';

export interface HttpGetOptions {
  /** Sends `Range: bytes=<from>-` when > 0 (or `bytes=<from>-<to>` when `to` is set). */
  from: number;
  /** Last byte wanted (inclusive): asks for `Range: bytes=<from>-<to>` even from byte 0. */
  to?: number;
  /** Sent as `Bearer` only to URLs of `tokenOrigin` (the Hub), never to a CDN on another host. */
  token?: string;
  tokenOrigin: string;
  signal: AbortSignal;
  maxRedirects?: number;
  userAgent?: string;
}

export interface HttpGetResponse {
  res: IncomingMessage;
  /** The URL that answered (after redirects). */
  url: URL;
  /** How many redirects led there (0: the URL asked for answered itself). */
  redirects: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * GET that follows redirects by hand, so the caller knows which URL (Hub or CDN) answered and can re-resolve when a
 * signed CDN URL expires. Returns the first response that is not a redirect, whatever its status; its body is unread.
 */
export async function httpGet(url: URL, options: HttpGetOptions): Promise<HttpGetResponse> {
  const maxRedirects = options.maxRedirects ?? 10;
  let current = url;
  for (let redirects = 0; ; redirects += 1) {
    const res = await getOnce(current, headersFor(current, options), options.signal);
    const location = res.headers.location;
    if (!REDIRECTS.has(res.statusCode ?? 0) || location === undefined) return { res, url: current, redirects };
    res.resume();
    if (redirects >= maxRedirects) {
      throw new DownloadError(
        DownloadErrorCode.HTTP_ERROR,
        `more than ${maxRedirects} redirects from ${describeUrl(url)}`,
      );
    }
    current = new URL(location, current);
  }
}

function headersFor(url: URL, options: HttpGetOptions): OutgoingHttpHeaders {
  return {
    'User-Agent': options.userAgent ?? 'llmfleet-agent',
    // Bytes as stored: a compressed body would break both Range offsets and the sha256.
    'Accept-Encoding': 'identity',
    ...(options.to !== undefined
      ? { Range: `bytes=${options.from}-${options.to}` }
      : options.from > 0
        ? { Range: `bytes=${options.from}-` }
        : {}),
    ...(options.token !== undefined && url.origin === options.tokenOrigin
      ? { Authorization: `Bearer ${options.token}` }
      : {}),
  };
}

function getOnce(url: URL, headers: OutgoingHttpHeaders, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const transport = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : null;
    if (transport === null) {
      reject(new Error(`unsupported URL scheme ${url.protocol}`));
      return;
    }
    const req = transport.request(url, { method: 'GET', headers, signal }, resolve);
    req.on('error', reject);
    req.end();
  });
}

/** A URL fit for logs and error messages: signed CDN URLs carry credentials in their query. */
export function describeUrl(url: URL | string): string {
  const u = typeof url === 'string' ? new URL(url) : url;
  return `${u.origin}${u.pathname}`;
}

/** `bytes <start>-<end>/<total|*>`; null when absent or malformed. */
export function parseContentRange(
  header: string | undefined,
): { start: number; end: number; total: number | null } | null {
  const m = header ? /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(header.trim()) : null;
  if (!m) return null;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? null : Number(m[3]) };
}
