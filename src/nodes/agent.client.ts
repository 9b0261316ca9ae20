import { Injectable } from '@nestjs/common';
import type {
  AgentDownloadAccepted,
  AgentModelState,
  AgentDownloadRequest,
  AgentRepairAccepted,
  AgentRepairRequest,
  AgentVerifyResponse,
} from '../shared/agent-protocol.js';
import type { NodeEntity } from './entities/node.entity.js';
import { NodesError, NodesErrorReason } from './nodes.errors.js';
import { NodesService } from './nodes.service.js';

const URL_CHECK_TTL_MS = 10_000;

/** The control plane's side of the agent protocol: commands to one node's agent, authenticated with its control token. */
@Injectable()
export class AgentClient {
  /** When each agent URL last passed the URL rules (host names are resolved again after URL_CHECK_TTL_MS). */
  private readonly checked = new Map<string, number>();

  constructor(private readonly nodes: NodesService) {}

  /**
   * Asks the agent to fetch a model and returns once it accepted: the agent owns the transfer and pushes its progress
   * (`POST /api/nodes/{id}/states`). Asking again while it runs joins the same download.
   */
  async startDownload(node: NodeEntity, request: AgentDownloadRequest): Promise<AgentDownloadAccepted> {
    const res = await this.call(node, 'POST', '/v1/agent/downloads', request, AbortSignal.timeout(15_000), {
      prefer: 'respond-async',
    });
    return (await res.json()) as AgentDownloadAccepted;
  }

  /** Stops the model's download on the node, keeping its partial file; the agent's state afterwards (null: none). */
  async cancelDownload(node: NodeEntity, modelId: string): Promise<AgentModelState | null> {
    const res = await this.call(
      node,
      'POST',
      `/v1/agent/models/${encodeURIComponent(modelId)}/cancel`,
      {},
      AbortSignal.timeout(30_000),
    );
    return ((await res.json()) as { state: AgentModelState | null }).state;
  }

  /**
   * Asks the agent to fetch a model again, verify and reload it, and returns once it accepted (202): the agent owns the
   * repair and reports it through its model states (tagged with the repair). Asking again for the same attempt while it
   * runs joins it.
   */
  async repair(node: NodeEntity, request: AgentRepairRequest, signal?: AbortSignal): Promise<AgentRepairAccepted> {
    const res = await this.call(
      node,
      'POST',
      `/v1/agent/models/${encodeURIComponent(request.modelId)}/repair`,
      request,
      signal ? AbortSignal.any([signal, AbortSignal.timeout(15_000)]) : AbortSignal.timeout(15_000),
      { prefer: 'respond-async' },
    );
    return (await res.json()) as AgentRepairAccepted;
  }

  /** Full sha256 of the node's copy of a model. */
  async verify(node: NodeEntity, modelId: string): Promise<AgentVerifyResponse> {
    const res = await this.call(
      node,
      'POST',
      `/v1/agent/models/${encodeURIComponent(modelId)}/verify`,
      {},
      AbortSignal.timeout(30 * 60_000),
    );
    return (await res.json()) as AgentVerifyResponse;
  }

  /** Removes a model's files from the node. */
  async deleteModel(node: NodeEntity, modelId: string): Promise<void> {
    const res = await this.call(
      node,
      'DELETE',
      `/v1/agent/models/${encodeURIComponent(modelId)}`,
      undefined,
      AbortSignal.timeout(30_000),
    );
    await res.body?.cancel();
  }

  private async call(
    node: NodeEntity,
    method: string,
    path: string,
    body: unknown,
    signal?: AbortSignal,
    extraHeaders: Record<string, string> = {},
  ): Promise<Response> {
    let res: Response;
    try {
      res = await this.fetchAgent(node, path, {
        method,
        headers: {
          ...extraHeaders,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (err) {
      if (err instanceof NodesError) throw err;
      throw this.unreachable(node, (err as Error).message);
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw new NodesError(
        NodesErrorReason.AGENT_REJECTED,
        `Agent of node ${node.name} answered ${res.status}: ${text.slice(0, 500)}`,
        {
          nodeId: node.id,
          status: res.status,
        },
      );
    }
    return res;
  }

  /**
   * Every request to an agent: its URL checked again (a host name may resolve elsewhere by now), the node's control
   * token, and never a redirect (a 3xx is an error: an agent must not steer the control plane, and its token, elsewhere).
   */
  async fetchAgent(node: NodeEntity, path: string, init: RequestInit): Promise<Response> {
    await this.checkUrl(node);
    const token = await this.nodes.controlTokenOf(node);
    const res = await fetch(`${node.url}${path}`, {
      ...init,
      headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` },
      redirect: 'manual',
    });
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => undefined);
      const location = res.headers.get('location');
      throw new NodesError(
        NodesErrorReason.AGENT_REJECTED,
        `Agent of node ${node.name} answered a redirect (${res.status}${location ? ` to ${location}` : ''}) for ${path}: ` +
          'the control plane never follows redirects from agents',
        { nodeId: node.id, status: res.status },
      );
    }
    return res;
  }

  private async checkUrl(node: NodeEntity): Promise<void> {
    const checkedAt = this.checked.get(node.url);
    if (checkedAt !== undefined && Date.now() - checkedAt < URL_CHECK_TTL_MS) return;
    await this.nodes.checkUrl(node.url);
    if (this.checked.size > 10_000) this.checked.clear();
    this.checked.set(node.url, Date.now());
  }

  private unreachable(node: NodeEntity, why: string): NodesError {
    return new NodesError(
      NodesErrorReason.AGENT_UNREACHABLE,
      `Agent of node ${node.name} (${node.url}) is unreachable: ${why}`,
      {
        nodeId: node.id,
      },
    );
  }
}
