import { Injectable } from '@nestjs/common';
import { EventsService } from '../events/events.service.js';
import { Topic } from '../events/topics.js';
import type { NodeModelStateEntity } from '../nodes/entities/node-model-state.entity.js';
import { NodeStatesService, type ControlPlaneStateUpdate } from '../nodes/node-states.service.js';
import { NodesService } from '../nodes/nodes.service.js';
import { RegistryService } from '../registry/registry.service.js';
import type { AgentModelState } from '../shared/agent-protocol.js';

/**
 * Writes node × model states and tells subscribers, after the write: `modelStatusChanged` with the model's derived
 * status and this node's lifecycle and progress; `nodeStatusChanged` when a lifecycle changed.
 */
@Injectable()
export class ModelStateRelay {
  constructor(
    private readonly states: NodeStatesService,
    private readonly nodes: NodesService,
    private readonly registry: RegistryService,
    private readonly events: EventsService,
  ) {}

  /** Applies an agent's report; returns the stored state, or null when it was stale or about an unregistered model. */
  async fromAgent(nodeId: string, report: AgentModelState): Promise<NodeModelStateEntity | null> {
    const [applied] = await this.fromAgentReports(nodeId, [report]);
    return applied ?? null;
  }

  /** A heartbeat's worth of reports: one write for all of them, events for those that changed. */
  async fromAgentReports(nodeId: string, reports: readonly AgentModelState[]): Promise<NodeModelStateEntity[]> {
    const applied = await this.states.applyAgentStates(nodeId, reports);
    for (const { state, previous } of applied) await this.announce(state, previous !== state.lifecycleStatus);
    return applied.map((a) => a.state);
  }

  async fromControlPlane(update: ControlPlaneStateUpdate): Promise<NodeModelStateEntity> {
    const before = await this.states.get(update.nodeId, update.modelId);
    const after = await this.states.setByControlPlane(update);
    await this.announce(after, before?.lifecycleStatus !== after.lifecycleStatus);
    return after;
  }

  private async announce(state: NodeModelStateEntity, lifecycleChanged: boolean): Promise<void> {
    const view = await this.registry.find(state.modelId);
    if (!view) return;
    await this.events.publishSafely(Topic.MODEL_STATUS_CHANGED, {
      modelId: state.modelId,
      status: view.status,
      progress: state.bytesTotal > 0 ? Math.min(1, state.bytesDone / state.bytesTotal) : null,
      nodeId: state.nodeId,
      lifecycleStatus: state.lifecycleStatus,
      errorMessage: state.errorMessage,
    });
    if (lifecycleChanged) {
      const node = await this.nodes.find(state.nodeId);
      if (node) await this.nodes.publishStatus(node);
    }
  }
}
