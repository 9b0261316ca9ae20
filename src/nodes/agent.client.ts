import { Injectable } from '@nestjs/common';
import type {
  AgentDownloadAccepted,
  AgentDownloadEvent,
  AgentModelState,
  AgentDownloadRequest,
  AgentRepairRequest,
  AgentVerifyResponse,
} from '../shared/agent-protocol.js';
import type { NodeEntity } from './entities/node.entity.js';
import { NodesError, NodesErrorReason } from './nodes.errors.js';

/** The control plane's side of the agent protocol: commands to one node's agent, authenticated with its control token. */
@Injectable()
export class AgentClient {
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

  /** Asks the agent to fetch a model again, verify and reload it; the same NDJSON stream as a download. */
  async repair(
    node: NodeEntity,
    request: AgentRepairRequest,
    onEvent: (event: AgentDownloadEvent) => Promise<void>,
    signal?: AbortSignal,
  ): Promise<AgentDownloadEvent> {
    return this.follow(
      node,
      `/v1/agent/models/${encodeURIComponent(request.modelId)}/repair`,
      request,
      onEvent,
      signal,
    );
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

  private async follow(
    node: NodeEntity,
    path: string,
    body: unknown,
    onEvent: (event: AgentDownloadEvent) => Promise<void>,
    signal?: AbortSignal,
  ): Promise<AgentDownloadEvent> {
    const res = await this.call(node, 'POST', path, body, signal);
    if (!res.body) throw this.unreachable(node, 'empty answer');
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (!line) continue;
          const event = JSON.parse(line) as AgentDownloadEvent;
          await onEvent(event);
          if (event.type !== 'state') return event;
        }
      }
    } catch (err) {
      if (err instanceof SyntaxError) throw this.unreachable(node, `unreadable progress stream: ${err.message}`);
      throw this.unreachable(node, (err as Error).message);
    }
    throw this.unreachable(node, 'the progress stream ended before the download finished');
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
      res = await fetch(`${node.url}${path}`, {
        method,
        headers: {
          ...extraHeaders,
          authorization: `Bearer ${node.controlToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (err) {
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
