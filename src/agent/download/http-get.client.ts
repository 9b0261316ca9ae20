import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { DownloadError, DownloadErrorCode } from './download.errors.js';
import { BodyOverLimit, ChunkedBody, wireGet, type BodySink } from './http-wire.js';

/** An answer whose headers arrived; its body is read with `readInto` or dropped with `resume`. */
export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
  /** The whole body was read. */
  readonly complete: boolean;
  /** Drops the body. */
  resume(): void;
  destroy(err?: Error): void;
  /** Moves the body into `sink`; resolves at its end, rejects when the connection fails first. */
  readInto(sink: BodySink): Promise<void>;
}

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
  res: HttpResponse;
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

/**
 * One GET over a connection that reads bodies straight into the caller's blocks (http-wire.ts); a chunked body, which
 * no file server sends, is asked again through node:http.
 */
async function getOnce(url: URL, headers: OutgoingHttpHeaders, signal: AbortSignal): Promise<HttpResponse> {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`unsupported URL scheme ${url.protocol}`);
  try {
    return await wireGet(url, headers, signal);
  } catch (err) {
    if (!(err instanceof ChunkedBody)) throw err;
    return new NodeResponse(await nodeGet(url, headers, signal));
  }
}

/** A node:http answer read into a BodySink (each chunk copied in; the socket paused while no block is free). */
class NodeResponse implements HttpResponse {
  constructor(private readonly res: IncomingMessage) {}

  get statusCode(): number {
    return this.res.statusCode ?? 0;
  }

  get headers(): IncomingHttpHeaders {
    return this.res.headers;
  }

  get complete(): boolean {
    return this.res.complete;
  }

  resume(): void {
    this.res.resume();
  }

  destroy(err?: Error): void {
    this.res.destroy(err);
  }

  readInto(sink: BodySink): Promise<void> {
    const { res } = this;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let ended = false;
      const waiting: Buffer[] = [];
      let draining = false;
      const finish = (err: Error | null): void => {
        if (settled) return;
        settled = true;
        res.off('data', onData);
        res.off('end', onEnd);
        res.off('error', finish);
        res.off('close', onClose);
        if (err) {
          res.destroy();
          reject(err);
        } else resolve();
      };
      const copyIn = (chunk: Buffer): Buffer | null => {
        let at = 0;
        while (at < chunk.length) {
          const space = sink.space();
          if (space === null) break;
          if (space.length === 0) throw new BodyOverLimit(at);
          const n = chunk.copy(space, 0, at);
          sink.filled(n);
          at += n;
        }
        return at < chunk.length ? chunk.subarray(at) : null;
      };
      const drain = async (): Promise<void> => {
        while (waiting.length > 0 && !settled) {
          await sink.room();
          if (settled) return;
          const rest = copyIn(waiting[0] as Buffer);
          if (rest === null) waiting.shift();
          else waiting[0] = rest;
        }
        draining = false;
        if (settled) return;
        if (ended) finish(null);
        else res.resume();
      };
      const onData = (chunk: Buffer): void => {
        try {
          const rest = waiting.length > 0 ? chunk : copyIn(chunk);
          if (rest === null) return;
          waiting.push(rest);
          res.pause();
          if (!draining) {
            draining = true;
            drain().catch((err: unknown) => finish(err as Error));
          }
        } catch (err) {
          finish(err as Error);
        }
      };
      const onEnd = (): void => {
        ended = true;
        if (!draining) finish(null);
      };
      const onClose = (): void => {
        if (!res.complete) finish(new Error('the connection closed before the end of the body'));
      };
      res.on('data', onData);
      res.on('end', onEnd);
      res.on('error', finish);
      res.on('close', onClose);
    });
  }
}

function nodeGet(url: URL, headers: OutgoingHttpHeaders, signal: AbortSignal): Promise<IncomingMessage> {
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
