import type {
  AgentModelState,
  HeartbeatRequest,
  RegisterNodeRequest,
  RegisterNodeResponse,
} from '../../src/shared/agent-protocol.js';
import type { ControlPlaneTarget } from './fleet.js';

const GiB = 1024 * 1024 * 1024;

/**
 * A node that speaks the real agent protocol over HTTP (register, heartbeat, state reports) without being an agent
 * process: many of them cost a test nothing, and what they report is exactly what the test says.
 */
export class SimulatedNode {
  private version = Date.now() * 1000;

  private constructor(
    private readonly app: ControlPlaneTarget,
    readonly name: string,
    readonly id: string,
    private readonly token: string,
  ) {}

  static async join(app: ControlPlaneTarget, name: string): Promise<SimulatedNode> {
    const body: RegisterNodeRequest = {
      name,
      url: 'http://127.0.0.1:9',
      protocolVersion: 1,
      capacity: {
        gpus: [],
        vramTotalBytes: 0,
        ramTotalBytes: 64 * GiB,
        cpuCount: 8,
        platform: 'linux',
        memoryBytes: 64 * GiB,
      },
    };
    const joinToken = app.config.NODE_JOIN_TOKEN;
    const res = await call<RegisterNodeResponse>(
      `${app.url}/api/nodes/register`,
      'POST',
      body,
      joinToken ? { 'x-llmfleet-join-token': joinToken } : {},
    );
    return new SimulatedNode(app, name, res.nodeId, res.nodeToken);
  }

  /** A state report for a model, versioned after every earlier one of this node. */
  state(modelId: string, lifecycleStatus: string, bytesDone: number, bytesTotal: number): AgentModelState {
    return {
      modelId,
      lifecycleStatus: lifecycleStatus as AgentModelState['lifecycleStatus'],
      bytesDone,
      bytesTotal,
      filePath: null,
      errorCode: null,
      errorMessage: null,
      version: ++this.version,
    };
  }

  async heartbeat(models: AgentModelState[] = []): Promise<void> {
    const body: HeartbeatRequest = {
      metrics: {
        gpuUsage: null,
        vramUsedBytes: 0,
        vramTotalBytes: 0,
        cpuUsage: 5,
        ramUsedBytes: 1,
        ramTotalBytes: 64 * GiB,
        requestCount: 0,
      },
      models,
    };
    await call(`${this.app.url}/api/nodes/${this.id}/heartbeat`, 'PUT', body, this.auth());
  }

  /** Progress between heartbeats, as an agent pushes it while downloading. */
  async report(models: AgentModelState[]): Promise<void> {
    await call(`${this.app.url}/api/nodes/${this.id}/states`, 'POST', { models }, this.auth());
  }

  private auth(): Record<string, string> {
    return { authorization: `Bearer ${this.token}` };
  }
}

async function call<T>(
  url: string,
  method: 'POST' | 'PUT',
  body: unknown,
  headers: Record<string, string>,
): Promise<T> {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}
