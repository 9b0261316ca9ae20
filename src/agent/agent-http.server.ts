import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import type {
  AgentDownloadEvent,
  AgentDownloadRequest,
  AgentModelState,
  AgentRepairRequest,
} from '../shared/agent-protocol.js';
import { ModelLoadError } from '../shared/model-load-error.js';
import type { ChatHandler } from './chat.handler.js';
import { sendJson } from './inference/openai-response.js';
import type { ModelManager, StateListener } from './model-manager.js';
import type { RepairCoordinator } from './repair-coordinator.js';

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

const repairRequestSchema = downloadRequestSchema.and(
  z.object({
    repairId: z.string().min(1),
    reason: z.nativeEnum(ModelLoadError),
    fromZero: z.boolean(),
    deadline: z.string().datetime(),
  }),
);

/** The control plane → agent half of the node protocol; every call must bear the node's control token. */
export class AgentHttpServer {
  private server: Server | null = null;

  constructor(
    private readonly models: ModelManager,
    private readonly repairs: RepairCoordinator,
    private readonly chat: ChatHandler,
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

    if (req.method === 'POST' && url.pathname === '/v1/chat/completions')
      return this.chat.handle(res, await readJson(req));
    if (req.method === 'GET' && url.pathname === '/v1/models') return sendJson(res, 200, this.openAiModels());
    if (req.method === 'POST' && url.pathname === '/v1/agent/downloads') return this.download(req, res);
    if (req.method === 'GET' && url.pathname === '/v1/agent/models')
      return sendJson(res, 200, { models: this.models.snapshot() });
    const match = /^\/v1\/agent\/models\/([^/]+)(?:\/(repair|verify))?$/.exec(url.pathname);
    if (match) {
      const modelId = decodeURIComponent(match[1]!);
      if (req.method === 'DELETE' && !match[2]) {
        await this.models.remove(modelId);
        res.writeHead(204).end();
        return;
      }
      if (req.method === 'POST' && match[2] === 'repair') return this.repair(req, res, modelId);
      if (req.method === 'POST' && match[2] === 'verify')
        return sendJson(res, 200, await this.repairs.verify(modelId, 'VERIFY'));
    }
    sendJson(res, 404, { error: { message: `no route ${req.method} ${url.pathname}` } });
  }

  private openAiModels(): {
    object: 'list';
    data: Array<{ id: string; object: 'model'; created: number; owned_by: string }>;
  } {
    const ready = this.models.snapshot().filter((s) => s.lifecycleStatus === 'READY');
    return {
      object: 'list',
      data: ready.map((s) => ({
        id: s.modelId,
        object: 'model',
        created: Math.floor(s.version / 1e6),
        owned_by: 'llmfleet',
      })),
    };
  }

  /** Streams the model's states as NDJSON until it is READY or failed; the download outlives this connection. */
  private async download(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parsed = downloadRequestSchema.safeParse(await readJson(req));
    if (!parsed.success) return badRequest(res, parsed.error);
    const request: AgentDownloadRequest = parsed.data;
    return this.stream(res, (listener) => this.models.ensure(request, listener));
  }

  /** A repair sent by the control plane: fetch again (resume or from zero), verify, reload; streamed like a download. */
  private async repair(req: IncomingMessage, res: ServerResponse, modelId: string): Promise<void> {
    const parsed = repairRequestSchema.safeParse(await readJson(req));
    if (!parsed.success) return badRequest(res, parsed.error);
    if (parsed.data.modelId !== modelId)
      return sendJson(res, 400, { error: { message: 'modelId does not match the path' } });
    const request: AgentRepairRequest = parsed.data;
    return this.stream(res, (listener) => this.repairs.repair(request, listener));
  }

  private async stream(
    res: ServerResponse,
    start: (listener: StateListener) => { done: Promise<void>; detach: () => void },
  ): Promise<void> {
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    const write = (event: AgentDownloadEvent) => {
      if (!res.writableEnded) res.write(`${JSON.stringify(event)}\n`);
    };
    let last: AgentModelState | null = null;
    const { done, detach } = start((state, terminal) => {
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

function badRequest(res: ServerResponse, error: z.ZodError): void {
  sendJson(res, 400, { error: { message: error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') } });
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
