import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import net from 'node:net';
import tls from 'node:tls';

/** Where a body's bytes go: the socket reads straight into the buffers it hands out. */
export interface BodySink {
  /** Room for the next read (never past the sink's limit; empty at the limit), or null when none is free now. */
  space(): Buffer | null;
  /** `bytes` landed at the start of the last space() handed out. */
  filled(bytes: number): void;
  /** Resolves when space() may have room again. */
  room(): Promise<void>;
}

/** Bytes past the sink's limit: what the caller does about a server that sends more than it may. */
export class BodyOverLimit extends Error {
  constructor(readonly received: number) {
    super(`the body went past the limit after ${received} bytes`);
  }
}

const HEAD_READ_BYTES = 16 * 1024;
const MAX_HEAD_BYTES = 64 * 1024;
/** Idle connections kept per origin for the next request (a lane asks for its next piece on the same one). */
const MAX_IDLE_PER_ORIGIN = 16;
const IDLE_MS = 4_000;

type Reader = (bytes: number, buffer: Buffer) => boolean;

/**
 * One HTTP/1.1 connection whose socket reads into buffers the caller gives (net/tls `onread`): a body moves from the
 * kernel into the download's blocks with no allocation and no copy per chunk, where node:http allocates a buffer per
 * read and hands it through a stream. Kept alive for the next request to the same origin when the body ended cleanly.
 */
class Connection {
  /** What the next read lands in. */
  target: Buffer;
  reader: Reader = () => true;
  onEnd: (err: Error) => void = () => undefined;
  closed = false;
  used = 0;

  readonly socket: net.Socket;

  constructor(
    readonly origin: string,
    url: URL,
    private readonly scratch = Buffer.allocUnsafe(HEAD_READ_BYTES),
  ) {
    this.target = scratch;
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const onread: net.OnReadOpts = { buffer: () => this.target, callback: (n, b) => this.reader(n, b as Buffer) };
    this.socket =
      url.protocol === 'https:'
        ? // TLS sockets take `onread` too (Node >= 14); @types/node leaves it out of tls.ConnectionOptions.
          tls.connect({
            host,
            port,
            servername: net.isIP(host) ? undefined : host,
            ALPNProtocols: ['http/1.1'],
            onread,
          } as tls.ConnectionOptions)
        : net.connect({ host, port, onread });
    this.socket.setNoDelay(true);
    const ended = (err?: Error): void => {
      if (this.closed) return;
      this.closed = true;
      this.onEnd(err ?? new Error('the connection closed'));
    };
    this.socket.on('error', ended);
    this.socket.on('end', () => ended());
    this.socket.on('close', () => ended());
  }

  private idleTimer: NodeJS.Timeout | null = null;

  /** Idle in the pool: keeps no process alive, closes after a while. */
  park(timer: NodeJS.Timeout): void {
    this.idleTimer = timer;
    timer.unref();
    this.socket.unref();
  }

  unpark(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.socket.ref();
  }

  /** Reads land in the scratch buffer again (headers, or bytes while no sink room is known). */
  useScratch(): Buffer {
    this.target = this.scratch;
    return this.scratch;
  }

  destroy(err?: Error): void {
    this.closed = true;
    this.socket.destroy(err);
  }
}

const idle = new Map<string, Connection[]>();

function takeIdle(origin: string): Connection | null {
  const list = idle.get(origin);
  for (let conn = list?.pop(); conn; conn = list?.pop()) {
    conn.unpark();
    if (!conn.closed) return conn;
  }
  return null;
}

function keepIdle(conn: Connection): void {
  const list = idle.get(conn.origin) ?? [];
  if (list.length >= MAX_IDLE_PER_ORIGIN) return conn.destroy();
  list.push(conn);
  idle.set(conn.origin, list);
  conn.useScratch();
  const forget = (): void => {
    conn.unpark();
    const at = list.indexOf(conn);
    if (at >= 0) list.splice(at, 1);
    if (list.length === 0 && idle.get(conn.origin) === list) idle.delete(conn.origin);
    conn.destroy();
  };
  // Anything from an idle connection (bytes, or its end) makes it unusable.
  conn.reader = () => {
    forget();
    return false;
  };
  conn.onEnd = forget;
  conn.park(setTimeout(forget, IDLE_MS));
}

/**
 * A response whose headers arrived; the body is still on the socket. `readInto` moves it into a sink; `resume` (or
 * `destroy`) drops it with the connection.
 */
export class WireResponse {
  complete = false;
  private settled = false;
  private stopReading: ((err: Error) => void) | null = null;
  private bodyLeft: number | null;

  constructor(
    private readonly conn: Connection,
    readonly statusCode: number,
    readonly headers: IncomingHttpHeaders,
    private readonly keepAlive: boolean,
    /** Body bytes that came with the headers. */
    private leftover: Buffer | null,
    private readonly signal: AbortSignal,
  ) {
    const length = headers['content-length'];
    this.bodyLeft = length === undefined ? null : Number(length);
  }

  /** The body's length when announced (Content-Length). */
  get contentLength(): number | null {
    return this.bodyLeft;
  }

  /** Drops the body: the connection is closed. */
  resume(): void {
    this.destroy();
  }

  destroy(err?: Error): void {
    if (this.stopReading) return this.stopReading(err ?? new Error('the response was destroyed'));
    if (this.settled) return;
    this.settled = true;
    this.conn.destroy();
  }

  /** Resolves once the whole body is in the sink (the sink's writes are its own business); rejects on a failure. */
  readInto(sink: BodySink): Promise<void> {
    const { conn, signal } = this;
    return new Promise<void>((resolve, reject) => {
      let left = this.bodyLeft; // null: until the connection closes
      let handed: Buffer | null = null;
      /** Bytes read while no room was known, in order. */
      const held: Buffer[] = [];
      let waiting = false;
      /** More bytes than announced came in one read: the connection cannot carry another answer. */
      let overflowed = false;
      const finish = (err: Error | null): void => {
        if (this.settled) return;
        this.settled = true;
        this.stopReading = null;
        signal.removeEventListener('abort', onAbort);
        if (err) {
          conn.destroy();
          return reject(err);
        }
        this.complete = true;
        if (this.keepAlive && left === 0 && !overflowed && !conn.closed) keepIdle(conn);
        else conn.destroy();
        resolve();
      };
      const onAbort = (): void => finish(abortError(signal.reason));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.stopReading = (err) => finish(err);

      /** Copies `bytes` into the sink as far as it has room; returns what did not fit. */
      const copyIn = (bytes: Buffer): Buffer | null => {
        let at = 0;
        while (at < bytes.length) {
          const space = sink.space();
          if (space === null) break;
          if (space.length === 0) throw new BodyOverLimit(at);
          const n = bytes.copy(space, 0, at);
          sink.filled(n);
          at += n;
        }
        return at < bytes.length ? bytes.subarray(at) : null;
      };
      /** Chooses what the next read lands in; false when reading must pause for room. */
      const aim = (): boolean => {
        if (left === 0) return true;
        const space = held.length > 0 ? null : sink.space();
        if (space !== null && space.length === 0) throw new BodyOverLimit(0);
        if (space === null) {
          handed = null;
          conn.useScratch();
          return false;
        }
        handed = left !== null && space.length > left ? space.subarray(0, left) : space;
        conn.target = handed;
        return true;
      };
      const wait = (): void => {
        if (waiting) return;
        waiting = true;
        void (async () => {
          try {
            // Never resume within the read callback that paused: node stops reading once it returns false.
            await Promise.resolve();
            while (!this.settled) {
              while (held.length > 0) {
                const rest = copyIn(held[0] as Buffer);
                if (rest === null) held.shift();
                else {
                  held[0] = rest;
                  break;
                }
              }
              if (held.length === 0 && aim()) break;
              await sink.room();
            }
            waiting = false;
            if (this.settled) return;
            if (left === 0 || (left === null && conn.closed)) return finish(null);
            conn.socket.resume();
          } catch (err) {
            finish(err as Error);
          }
        })();
      };
      const take = (n: number, buffer: Buffer): boolean => {
        if (n <= 0 || this.settled) return true;
        const bytes = left === null ? n : Math.min(n, left);
        if (bytes < n) overflowed = true;
        if (left !== null) left -= bytes;
        if (waiting) held.push(Buffer.from(buffer.subarray(0, bytes)));
        else if (buffer === handed) sink.filled(bytes);
        else {
          // A read that landed in the scratch buffer (the one after a pause: node asks for the next buffer as soon as
          // a read is handled).
          const rest = copyIn(buffer.subarray(0, bytes));
          if (rest !== null) held.push(Buffer.from(rest));
        }
        if (left === 0) {
          // The last bytes: done, unless some still wait for room (wait() finishes then).
          if (held.length > 0) wait();
          else if (!waiting) finish(null);
          return false;
        }
        if (waiting) return false;
        if (!aim()) {
          wait();
          return false;
        }
        return true;
      };
      conn.reader = (n, buffer) => {
        try {
          return take(n, buffer);
        } catch (err) {
          finish(err as Error);
          return false;
        }
      };
      conn.onEnd = (err) => {
        if (left === 0) return; // every byte is in; what is held still goes in (wait())
        if (left === null && !waiting) return finish(null);
        if (left === null) return;
        finish(
          err.message === 'the connection closed' ? new Error('the connection closed before the end of the body') : err,
        );
      };
      try {
        if (this.leftover) {
          const extra = this.leftover;
          this.leftover = null;
          const bytes = left === null ? extra : extra.subarray(0, left);
          if (left !== null) left -= bytes.length;
          const rest = copyIn(bytes);
          if (rest !== null) held.push(Buffer.from(rest));
        }
        if (left === 0 && held.length === 0) return finish(null);
        if (conn.closed && left !== null) return conn.onEnd(new Error('the connection closed'));
        if (held.length > 0 || !aim()) wait();
        else conn.socket.resume();
      } catch (err) {
        finish(err as Error);
      }
    });
  }
}

function abortError(reason: unknown): Error {
  const err = new Error('The operation was aborted', { cause: reason }) as NodeJS.ErrnoException;
  err.name = 'AbortError';
  err.code = 'ABORT_ERR';
  return err;
}

/** Sends one GET and resolves once its status line and headers arrived (a reused connection that fails first is retried on a new one). */
export async function wireGet(url: URL, headers: OutgoingHttpHeaders, signal: AbortSignal): Promise<WireResponse> {
  const origin = url.origin;
  const reused = takeIdle(origin);
  if (reused) {
    try {
      return await request(reused, url, headers, signal, true);
    } catch (err) {
      if (signal.aborted || !(err instanceof StaleConnection)) throw err;
    }
  }
  return request(new Connection(origin, url), url, headers, signal, false);
}

/** A kept-alive connection the server closed before answering anything: the request goes again on a fresh one. */
class StaleConnection extends Error {}

function request(
  conn: Connection,
  url: URL,
  headers: OutgoingHttpHeaders,
  signal: AbortSignal,
  reused: boolean,
): Promise<WireResponse> {
  return new Promise<WireResponse>((resolve, reject) => {
    const head: Buffer[] = [];
    let headBytes = 0;
    let done = false;
    const fail = (err: Error): void => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      conn.destroy();
      reject(reused && headBytes === 0 && !signal.aborted ? new StaleConnection(err.message) : err);
    };
    const onAbort = (): void => fail(abortError(signal.reason));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    conn.useScratch();
    conn.onEnd = (err) => fail(err.message === 'the connection closed' ? new Error('socket hang up') : err);
    conn.reader = (n, buffer) => {
      if (n <= 0 || done) return true;
      head.push(Buffer.from(buffer.subarray(0, n)));
      headBytes += n;
      const all = head.length === 1 ? (head[0] as Buffer) : Buffer.concat(head);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) {
        if (headBytes > MAX_HEAD_BYTES) fail(new Error(`response headers longer than ${MAX_HEAD_BYTES} bytes`));
        return true;
      }
      let parsed: ReturnType<typeof parseHead>;
      try {
        parsed = parseHead(all.subarray(0, end).toString('latin1'));
      } catch (err) {
        fail(err as Error);
        return false;
      }
      if (parsed.status >= 100 && parsed.status < 200 && parsed.status !== 101) {
        // An interim answer (100 Continue, 103 Early Hints): the real one follows.
        head.length = 0;
        headBytes = 1;
        const rest = all.subarray(end + 4);
        if (rest.length > 0) return conn.reader(rest.length, Buffer.from(rest));
        return true;
      }
      done = true;
      signal.removeEventListener('abort', onAbort);
      const chunked = /(^|,)\s*chunked\s*$/i.test(String(parsed.headers['transfer-encoding'] ?? ''));
      if (chunked && parsed.status >= 200 && parsed.status < 300) {
        // Not a file server's answer; the caller asks again through node:http. (A chunked redirect or error keeps
        // its body unread: only its headers count.)
        conn.destroy();
        reject(new ChunkedBody());
        return false;
      }
      const rest = all.subarray(end + 4);
      const closing = /(^|,)\s*close\s*(,|$)/i.test(String(parsed.headers['connection'] ?? ''));
      const keepAlive =
        parsed.version === '1.1' && !closing && !chunked && parsed.headers['content-length'] !== undefined;
      conn.reader = () => false;
      conn.onEnd = () => undefined;
      resolve(
        new WireResponse(
          conn,
          parsed.status,
          parsed.headers,
          keepAlive,
          rest.length > 0 ? Buffer.from(rest) : null,
          signal,
        ),
      );
      return false;
    };
    conn.used += 1;
    const target = `${url.pathname}${url.search}`;
    let text = `GET ${target} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: keep-alive\r\n`;
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) {
        const s = String(v);
        if (/[\r\n]/.test(s) || /[\r\n:]/.test(name)) return fail(new Error(`invalid header ${name}`));
        text += `${name}: ${s}\r\n`;
      }
    }
    conn.socket.write(`${text}\r\n`, 'latin1');
    conn.socket.resume();
  });
}

/** The server answered with a chunked body: node:http reads it instead. */
export class ChunkedBody extends Error {
  constructor() {
    super('chunked response body');
  }
}

function parseHead(text: string): { status: number; version: string; headers: IncomingHttpHeaders } {
  const lines = text.split('\r\n');
  const m = /^HTTP\/(\d\.\d) (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!m) throw new Error(`malformed status line ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
  const headers: Record<string, string | string[]> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`malformed header line ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prior = headers[name];
    if (name === 'set-cookie') headers[name] = [...((prior as string[] | undefined) ?? []), value];
    else if (name === 'content-length' && prior !== undefined && prior !== value)
      throw new Error('conflicting Content-Length headers');
    else headers[name] = prior === undefined || name === 'content-length' ? value : `${String(prior)}, ${value}`;
  }
  const length = headers['content-length'];
  if (length !== undefined && !/^\d+$/.test(String(length)))
    throw new Error(`invalid Content-Length ${String(length)}`);
  return { status: Number(m[2]), version: m[1] as string, headers: headers };
}
