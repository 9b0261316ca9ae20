import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import {
  AGENT_PROTOCOL_VERSION,
  type FailureReport,
  type FailureReportResponse,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type NodeCapacity,
  type PeerSourceAnswer,
  type PeerSourceRequest,
  type PeerTransferReport,
  type RegisterNodeResponse,
  type AgentModelState,
  type StatesReportResponse,
} from '../shared/agent-protocol.js';

/**
 * What the agent keeps in MODELS_DIR/.llmfleet/node.json (mode 0600): its node token (which it presents) and only the
 * sha256 of the control token (which it checks), so the file never holds the key to this agent's own routes.
 */
export interface NodeCredentials {
  nodeId: string;
  nodeToken: string;
  controlTokenHash: string;
  controlPlaneUrl: string;
}

/** The join token: a fixed one (NODE_JOIN_TOKEN), or asked for at each join (the embedded agent, in-process). */
export type JoinTokenSource = string | (() => Promise<string>) | undefined;

export class ControlPlaneError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The agent's side of the node protocol. Credentials are kept in MODELS_DIR, so a restarted agent keeps its node id;
 * a control plane that no longer knows them (401/403/404) gets a fresh registration.
 */
export class ControlPlaneClient {
  private credentials: NodeCredentials | null = null;
  private readonly credentialsPath: string;

  constructor(
    private readonly baseUrl: string,
    modelsRoot: string,
    private readonly joinToken: JoinTokenSource,
    private readonly log: Logger,
  ) {
    this.credentialsPath = join(modelsRoot, '.llmfleet', 'node.json');
  }

  get nodeId(): string | null {
    return this.credentials?.nodeId ?? null;
  }

  /** sha256 (hex) of the token the control plane presents on this agent's routes. */
  get controlTokenHash(): string | null {
    return this.credentials?.controlTokenHash ?? null;
  }

  async register(name: string, url: string, capacity: NodeCapacity): Promise<RegisterNodeResponse> {
    const saved = this.credentials ?? (await this.loadCredentials());
    const body = { name, url, protocolVersion: AGENT_PROTOCOL_VERSION, capacity };
    let res: RegisterNodeResponse;
    try {
      res = await this.post<RegisterNodeResponse>(
        '/api/nodes/register',
        saved ? { ...body, nodeId: saved.nodeId, nodeToken: saved.nodeToken } : body,
      );
    } catch (err) {
      // The control plane forgot us (its database was reset) or the token is stale: join again as new.
      if (!(saved && err instanceof ControlPlaneError && [401, 403, 404].includes(err.status))) throw err;
      this.log.warn('control plane refused our saved credentials; registering again');
      res = await this.post<RegisterNodeResponse>('/api/nodes/register', body);
    }
    this.credentials = {
      nodeId: res.nodeId,
      nodeToken: res.nodeToken,
      controlTokenHash: createHash('sha256').update(res.controlToken).digest('hex'),
      controlPlaneUrl: this.baseUrl,
    };
    await this.saveCredentials(this.credentials);
    return res;
  }

  /**
   * `timeoutMs`: the control plane's heartbeatTimeoutMs, so a slow answer is retried before the node looks silent.
   * `url`: the control plane's heartbeat listener (heartbeatUrl), when it has one.
   */
  async heartbeat(body: HeartbeatRequest, timeoutMs = 10_000, url?: string): Promise<HeartbeatResponse> {
    if (!this.credentials) throw new ControlPlaneError(401, 'not registered');
    return this.request<HeartbeatResponse>(
      'PUT',
      `/api/nodes/${this.credentials.nodeId}/heartbeat`,
      body,
      { authorization: `Bearer ${this.credentials.nodeToken}` },
      timeoutMs,
      url,
    );
  }

  /** Pushes model states that changed (download progress and transitions): the control plane does not poll. */
  async reportStates(models: AgentModelState[]): Promise<StatesReportResponse> {
    if (!this.credentials) throw new ControlPlaneError(401, 'not registered');
    return this.request<StatesReportResponse>(
      'POST',
      `/api/nodes/${this.credentials.nodeId}/states`,
      { models },
      { authorization: `Bearer ${this.credentials.nodeToken}` },
    );
  }

  /** Tells the control plane a model failed here; its repair policy answers what happens next. */
  async reportFailure(report: FailureReport): Promise<FailureReportResponse> {
    if (!this.credentials) throw new ControlPlaneError(401, 'not registered');
    return this.request<FailureReportResponse>('POST', `/api/nodes/${this.credentials.nodeId}/failures`, report, {
      authorization: `Bearer ${this.credentials.nodeToken}`,
    });
  }

  /** Where to fetch one file from (peer copy): a peer with its grant, the Hub, or wait a moment. */
  async peerSource(request: PeerSourceRequest): Promise<PeerSourceAnswer> {
    if (!this.credentials) throw new ControlPlaneError(401, 'not registered');
    return this.request<PeerSourceAnswer>('POST', `/api/nodes/${this.credentials.nodeId}/peer-sources`, request, {
      authorization: `Bearer ${this.credentials.nodeToken}`,
    });
  }

  /** How a source handed out by peerSource went, and the bytes it brought. */
  async reportTransfer(transferId: string, report: PeerTransferReport): Promise<void> {
    if (!this.credentials) throw new ControlPlaneError(401, 'not registered');
    await this.request<unknown>(
      'POST',
      `/api/nodes/${this.credentials.nodeId}/peer-transfers/${encodeURIComponent(transferId)}`,
      report,
      { authorization: `Bearer ${this.credentials.nodeToken}` },
    );
  }

  private async post<T>(path: string, body: unknown): Promise<T> {
    const joinToken = typeof this.joinToken === 'function' ? await this.joinToken() : this.joinToken;
    return this.request<T>('POST', path, body, joinToken ? { 'x-llmfleet-join-token': joinToken } : {});
  }

  private async request<T>(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
    timeoutMs = 10_000,
    baseUrl = this.baseUrl,
  ): Promise<T> {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    if (!res.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
      } catch {
        // Not JSON: keep the text.
      }
      throw new ControlPlaneError(res.status, `${method} ${path} → ${res.status}: ${message}`);
    }
    return JSON.parse(text) as T;
  }

  private async loadCredentials(): Promise<NodeCredentials | null> {
    try {
      const saved = JSON.parse(await readFile(this.credentialsPath, 'utf8')) as NodeCredentials & {
        controlToken?: string;
      };
      if (saved.controlPlaneUrl !== this.baseUrl) return null;
      // Written by an older agent, with the control token itself: keep only its hash from now on.
      const controlTokenHash =
        saved.controlTokenHash ??
        createHash('sha256')
          .update(saved.controlToken ?? '')
          .digest('hex');
      return {
        nodeId: saved.nodeId,
        nodeToken: saved.nodeToken,
        controlTokenHash,
        controlPlaneUrl: saved.controlPlaneUrl,
      };
    } catch {
      return null;
    }
  }

  private async saveCredentials(credentials: NodeCredentials): Promise<void> {
    await mkdir(dirname(this.credentialsPath), { recursive: true });
    const tmp = `${this.credentialsPath}.tmp`;
    await writeFile(tmp, JSON.stringify(credentials, null, 2), { mode: 0o600 });
    await rename(tmp, this.credentialsPath);
  }
}
