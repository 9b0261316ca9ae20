import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  /** The Host header the client sent (`localhost:port` or `127.0.0.1:port`). */
  host: string;
  path: string;
  cdn: boolean;
  authorization: string | null;
  range: string | null;
  status: number;
  /** Body bytes relayed to the client. */
  bytes: number;
}

/**
 * A reverse proxy in front of FakeHub that records what clients send (headers FakeHub does not log) and what it
 * relays. Clients reach the Hub at `http://localhost:<port>`; redirects to the CDN are rewritten to point back
 * through the proxy, either at another host name (127.0.0.1: a CDN on another host) or at the same one.
 */
export class RecordingProxy {
  private constructor(
    private readonly server: Server,
    readonly port: number,
    readonly requests: ProxiedRequest[],
  ) {}

  /** The Hub as clients see it. */
  get hubUrl(): string {
    return `http://localhost:${this.port}`;
  }

  static async start(target: string, options: { cdnHost: 'other' | 'same' }): Promise<RecordingProxy> {
    const upstream = new URL(target);
    const requests: ProxiedRequest[] = [];
    const self = { port: 0 };
    const server = createServer((req, res) => {
      const record: ProxiedRequest = {
        host: req.headers.host ?? '',
        path: req.url ?? '/',
        cdn: (req.url ?? '').startsWith('/cdn/'),
        authorization: req.headers.authorization ?? null,
        range: req.headers.range ?? null,
        status: 0,
        bytes: 0,
      };
      requests.push(record);
      const headers: IncomingHttpHeaders = { ...req.headers, host: upstream.host };
      const out = request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
        (up) => {
          record.status = up.statusCode ?? 0;
          const location = up.headers.location;
          const cdnOrigin = `http://${options.cdnHost === 'other' ? '127.0.0.1' : 'localhost'}:${self.port}`;
          const rewritten = location?.startsWith(target) ? cdnOrigin + location.slice(target.length) : location;
          res.writeHead(up.statusCode ?? 502, { ...up.headers, ...(rewritten ? { location: rewritten } : {}) });
          up.on('data', (chunk: Buffer) => {
            record.bytes += chunk.length;
          });
          up.pipe(res);
          up.on('error', () => res.destroy());
          up.on('aborted', () => res.destroy());
        },
      );
      out.on('error', () => res.destroy());
      res.on('close', () => out.destroy());
      req.pipe(out);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    self.port = (server.address() as AddressInfo).port;
    return new RecordingProxy(server, self.port, requests);
  }

  cdnRequests(): ProxiedRequest[] {
    return this.requests.filter((r) => r.cdn);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
