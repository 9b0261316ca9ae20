import { Injectable } from '@nestjs/common';
import type { NodeModelStateEntity } from '../nodes/entities/node-model-state.entity.js';
import type { NodeEntity } from '../nodes/entities/node.entity.js';
import { LifecycleStatus } from '../nodes/lifecycle-status.js';
import { NodeStatus } from '../nodes/node-status.js';
import { NodeStatesService } from '../nodes/node-states.service.js';
import { NodesService } from '../nodes/nodes.service.js';
import { RegistryService, type ModelView } from '../registry/registry.service.js';

/** Which nodes may answer a request for a model, best first: READY there, ONLINE, least busy. */
@Injectable()
export class ChatRouter {
  /** Requests this replica has in flight per node: the freshest measure of busy there is. */
  private readonly inFlight = new Map<string, number>();

  constructor(
    private readonly registry: RegistryService,
    private readonly nodes: NodesService,
    private readonly states: NodeStatesService,
  ) {}

  /** The model, its state on each node (for saying why none can answer), and the nodes that can, best first. */
  async candidates(
    modelId: string,
  ): Promise<{ model: ModelView | null; states: NodeModelStateEntity[]; nodes: NodeEntity[] }> {
    const model = await this.registry.find(modelId);
    if (!model?.registration) return { model, states: [], nodes: [] };
    const states = await this.states.forModels([modelId]);
    const readyOn = new Set(states.filter((s) => s.lifecycleStatus === LifecycleStatus.READY).map((s) => s.nodeId));
    const online = (await this.nodes.list(NodeStatus.ONLINE)).filter((n) => readyOn.has(n.id));
    const busy = (n: NodeEntity) => this.inFlight.get(n.id) ?? 0;
    const load = (n: NodeEntity) => (n.metrics ? Math.max(n.metrics.gpuUsage ?? 0, n.metrics.cpuUsage) : 0);
    return {
      model,
      states,
      nodes: online.sort((a, b) => busy(a) - busy(b) || load(a) - load(b) || a.name.localeCompare(b.name)),
    };
  }

  /** Counts a request against a node while it runs. */
  async track<T>(node: NodeEntity, work: () => Promise<T>): Promise<T> {
    this.inFlight.set(node.id, (this.inFlight.get(node.id) ?? 0) + 1);
    try {
      return await work();
    } finally {
      this.inFlight.set(node.id, (this.inFlight.get(node.id) ?? 1) - 1);
    }
  }
}
