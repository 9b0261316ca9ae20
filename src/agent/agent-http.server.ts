import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import type {
  AgentDownloadAccepted,
  AgentDownloadEvent,
  AgentDownloadRequest,
  AgentModelState,
  AgentRepairAccepted,
  AgentRepairRequest,
} from '../shared/agent-protocol.js';
import { ModelLoadError } from '../shared/model-load-error.js';
import { formatBytes } from '../shared/openai/byte-size.js';
import { openAiError, openAiErrorType } from '../shared/openai/openai-error.js';
import { REQUEST_ID_HEADER, requestIdOf } from '../shared/openai/request-id.js';
import type { ChatHandler } from './chat.handler.js';
import { sendJson } from './inference/openai-response.js';
import type { ModelManager, StateListener } from './model-manager.js';
import { PEER_FILES_PREFIX, type PeerFileServer } from './peer-file.server.js';
import type { RepairCoordinator } from './repair-coordinator.js';

import { hubPathProblem } from '../shared/hub-path.js';

const KEEPALIVE_MS = 5000;
/** Node protocol bodies (manifests) are small; only chat requests get the configurable `/v1` limit. */
const PROTOCOL_BODY_LIMIT = 1024 * 1024;

const downloadRequestSchema = z.object({
  modelId: z.string().min(1).max(512),
  revision: z.string().min(1).max(64),
  files: z
    .array(
      z.object({
        path: z.string().superRefine((path, ctx) => {
          const problem = hubPathProblem(path);
          if (problem)
            ctx.addIssue({ code: 'custom', message: `unsafe file path ${JSON.stringify(path)}: ${problem}` });
        }),
        url: z
          .string()
          .url()
          .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL'),
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
    repairId: z.string().min(1).max(64),
    attempt: z.number().int().min(1).max(100).optional(),
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
    private readonly peerFiles: PeerFileServer,
    /** sha256 (hex) of the control plane's token for this node (null until registered). */
    private readonly controlTokenHash: () => string | null,
    private readonly log: Logger,
    /** Largest chat request body (V1_BODY_LIMIT). */
    private readonly chatBodyLimit: number,
  ) {}

  async listen(port: number, host: string): Promise<number> {
    this.server = createServer((req, res) => {
      // Echoed (or made up) on every answer, so a client's report and both processes' logs name the same request.
      const requestId = requestIdOf(req.headers[REQUEST_ID_HEADER]);
      res.setHeader(REQUEST_ID_HEADER, requestId);
      this.route(req, res).catch((err: unknown) => {
        this.log.error({ err, requestId }, 'agent request failed');
        if (!res.headersSent) sendError(res, 500, 'The node failed to answer the request.');
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
    // Peers present a grant from the control plane, not the control token.
    if ((req.method === 'GET' || req.method === 'HEAD') && url.pathname.startsWith(PEER_FILES_PREFIX)) {
      return this.peerFiles.handle(req, res, url);
    }
    if (!this.authorized(req)) return sendError(res, 401, 'missing or wrong control token', 'invalid_api_key');

    if (req.method === 'POST' && url.pathname === '/v1/chat/completions') {
      const body = await readJson(req, this.chatBodyLimit);
      return body.ok ? this.chat.handle(res, body.value) : sendError(res, body.status, body.message, body.code);
    }
    if (req.method === 'GET' && url.pathname === '/v1/models') return sendJson(res, 200, this.openAiModels());
    if (req.method === 'GET' && url.pathname.startsWith('/v1/models/')) return this.openAiModel(res, url.pathname);
    if (req.method === 'POST' && url.pathname === '/v1/agent/downloads') return this.download(req, res);
    if (req.method === 'GET' && url.pathname === '/v1/agent/peer/uploads')
      return sendJson(res, 200, this.peerFiles.stats);
    if (req.method === 'GET' && url.pathname === '/v1/agent/models')
      return sendJson(res, 200, { models: this.models.snapshot() });
    const match = /^\/v1\/agent\/models\/([^/]+)(?:\/(repair|verify|cancel))?$/.exec(url.pathname);
    if (match) {
      const modelId = decodeURIComponent(match[1]!);
      if (req.method === 'DELETE' && !match[2]) {
        await this.models.remove(modelId);
        res.writeHead(204).end();
        return;
      }
      if (req.method === 'POST' && match[2] === 'repair') return this.repair(req, res, modelId);
      if (req.method === 'POST' && match[2] === 'cancel')
        return sendJson(res, 200, { state: await this.models.cancel(modelId) });
      if (req.method === 'POST' && match[2] === 'verify')
        return sendJson(res, 200, await this.repairs.verify(modelId, 'VERIFY'));
    }
    sendError(res, 404, `Unknown request URL: ${req.method} ${url.pathname}.`, 'unknown_url');
  }

  private openAiModels(): { object: 'list'; data: OpenAiModel[] } {
    const ready = this.models.snapshot().filter((s) => s.lifecycleStatus === 'READY');
    return { object: 'list', data: ready.map((s) => openAiModel(s)) };
  }

  /** `GET /v1/models/{id}`; the id may come %2F-encoded (OpenAI's SDKs) or with raw slashes. */
  private openAiModel(res: ServerResponse, pathname: string): void {
    let modelId: string;
    try {
      modelId = pathname.slice('/v1/models/'.length).split('/').map(decodeURIComponent).join('/');
    } catch {
      return sendError(res, 400, 'The model id in the path is not valid percent-encoding.');
    }
    const state = this.models.snapshot().find((s) => s.modelId === modelId && s.lifecycleStatus === 'READY');
    if (!state) {
      return sendJson(
        res,
        404,
        openAiError(`The model '${modelId}' does not exist on this node`, {
          type: 'invalid_request_error',
          param: 'model',
          code: 'model_not_found',
        }),
      );
    }
    sendJson(res, 200, openAiModel(state));
  }

  /** Streams the model's states as NDJSON until it is READY or failed; the download outlives this connection. */
  private async download(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parsed = downloadRequestSchema.safeParse(await readProtocolJson(req));
    if (!parsed.success) return badRequest(res, parsed.error);
    const request: AgentDownloadRequest = parsed.data;
    if (/respond-async/i.test(String(req.headers.prefer ?? ''))) {
      // The control plane does not follow the transfer: the agent owns it and pushes its states (StatePusher).
      this.models.ensure(request).done.catch(() => undefined);
      const accepted: AgentDownloadAccepted = { accepted: true, state: this.models.get(request.modelId) ?? null };
      return sendJson(res, 202, accepted);
    }
    return this.stream(res, (listener) => this.models.ensure(request, listener));
  }

  /**
   * A repair sent by the control plane: answered 202 at once, run in the background (fetch again, resume or from zero,
   * verify, reload); its states reach the control plane as a download's do (StatePusher, heartbeats), tagged with the
   * repair. The same repair's attempt asked again while it runs is joined.
   */
  private async repair(req: IncomingMessage, res: ServerResponse, modelId: string): Promise<void> {
    const parsed = repairRequestSchema.safeParse(await readProtocolJson(req));
    if (!parsed.success) return badRequest(res, parsed.error);
    if (parsed.data.modelId !== modelId) return sendError(res, 400, 'modelId does not match the path');
    const request: AgentRepairRequest = parsed.data;
    this.repairs.repair(request).done.catch(() => undefined);
    const accepted: AgentRepairAccepted = { accepted: true, state: this.models.get(modelId) ?? null };
    return sendJson(res, 202, accepted);
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
    const expected = this.controlTokenHash();
    const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!expected || !match) return false;
    const a = createHash('sha256').update(match[1]!).digest();
    const b = Buffer.from(expected, 'hex');
    return a.length === b.length && timingSafeEqual(a, b);
  }
}

interface OpenAiModel {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

function openAiModel(state: AgentModelState): OpenAiModel {
  return { id: state.modelId, object: 'model', created: Math.floor(state.version / 1e6), owned_by: 'llmfleet' };
}

/** Every error this server answers has OpenAI's shape: the `/v1` routes are OpenAI's, the protocol ones share it. */
function sendError(res: ServerResponse, status: number, message: string, code: string | null = null): void {
  sendJson(res, status, openAiError(message, { type: openAiErrorType(status), code }));
}

function badRequest(res: ServerResponse, error: z.ZodError): void {
  sendError(res, 400, error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
}

type JsonBody = { ok: true; value: unknown } | { ok: false; status: 400 | 413; message: string; code: string };

/** The body as JSON, refusing one past `limit` bytes (the rest is discarded unread, so the client gets the 413). */
async function readJson(req: IncomingMessage, limit: number): Promise<JsonBody> {
  const tooLarge: JsonBody = {
    ok: false,
    status: 413,
    message: `Request body too large: this node accepts at most ${formatBytes(limit)} (V1_BODY_LIMIT).`,
    code: 'request_too_large',
  };
  if (Number(req.headers['content-length']) > limit) {
    req.resume();
    return tooLarge;
  }
  const read = await new Promise<Buffer | null>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      req.off('data', onData);
      req.resume();
      resolve(null);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
  if (!read) return tooLarge;
  try {
    return { ok: true, value: JSON.parse(read.toString('utf8')) };
  } catch (err) {
    return {
      ok: false,
      status: 400,
      message: `We could not parse the JSON body of your request: ${(err as Error).message}`,
      code: 'invalid_json',
    };
  }
}

/** Node protocol bodies: anything unreadable becomes null, which the schema then refuses with a named field. */
async function readProtocolJson(req: IncomingMessage): Promise<unknown> {
  const body = await readJson(req, PROTOCOL_BODY_LIMIT);
  return body.ok ? body.value : null;
}
