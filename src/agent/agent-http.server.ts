import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { AgentDownloadEvent, AgentDownloadRequest, AgentModelState } from '../shared/agent-protocol.js';
import type { ModelManager } from './model-manager.js';

const KEEPALIVE_MS = 5000;

const downloadRequestSchema = z.object({
  modelId: z.string().min(1).max(512),
  revision: z.string().min(1).max(64),
  files: z
    .array(
      z.object({
        path: z.string().min(1).max(1024),
        url: z.string().url(),
        size: z.number().int().min(0),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        role: z.enum(['MODEL', 'PROJECTOR']),
      }),
    )
    .min(1)
    .refine((files) => files.some((f) => f.role === 'MODEL'), 'needs at least one MODEL file'),
});

/** The control plane → agent half of the node protocol; every call must bear the node's control token. */
export class AgentHttpServer {
  private server: Server | null = null;

  constructor(
    private readonly models: ModelManager,
    private readonly controlToken: () => string | null,
    private readonly log: Logger,
  ) {}

  async listen(port: number, host: string): Promise<number> {
    this.server = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        this.log.error({ err }, 'agent request failed');
        if (!res.headersSent) sendJson(res, 500, { error: { message: 'internal error' } });
        else res.end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent');
    if (req.method === 'GET' && url.pathname === '/health') return sendJson(res, 200, { status: 'ok' });
    if (!this.authorized(req)) return sendJson(res, 401, { error: { message: 'missing or wrong control token' } });

    if (req.method === 'POST' && url.pathname === '/v1/agent/downloads') return this.download(req, res);
    if (req.method === 'GET' && url.pathname === '/v1/agent/models')
      return sendJson(res, 200, { models: this.models.snapshot() });
    const match = /^\/v1\/agent\/models\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'DELETE' && match) {
      await this.models.remove(decodeURIComponent(match[1]!));
      res.writeHead(204).end();
      return;
    }
    sendJson(res, 404, { error: { message: `no route ${req.method} ${url.pathname}` } });
  }

  /** Streams the model's states as NDJSON until it is READY or failed; the download outlives this connection. */
  private async download(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parsed = downloadRequestSchema.safeParse(await readJson(req));
    if (!parsed.success) {
      return sendJson(res, 400, {
        error: { message: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') },
      });
    }
    const request: AgentDownloadRequest = parsed.data;
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    const write = (event: AgentDownloadEvent) => {
      if (!res.writableEnded) res.write(`${JSON.stringify(event)}\n`);
    };
    let last: AgentModelState | null = null;
    const { done, detach } = this.models.ensure(request, (state, terminal) => {
      last = state;
      if (!terminal) return write({ type: 'state', state });
      write(
        state.lifecycleStatus === 'READY'
          ? { type: 'done', state }
          : { type: 'failed', state, retryable: terminal.retryable },
      );
      res.end();
    });
    const keepalive = setInterval(() => last && write({ type: 'state', state: last }), KEEPALIVE_MS);
    res.on('close', () => {
      clearInterval(keepalive);
      detach();
    });
    await done.catch(() => undefined);
  }

  private authorized(req: IncomingMessage): boolean {
    const expected = this.controlToken();
    const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!expected || !match) return false;
    const a = Buffer.from(match[1]!);
    const b = Buffer.from(expected);
    return a.length === b.length && timingSafeEqual(a, b);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 1024 * 1024) return null;
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return null;
  }
}
