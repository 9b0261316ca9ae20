import { Injectable } from '@nestjs/common';
import type { NodeModelStateEntity } from '../nodes/entities/node-model-state.entity.js';
import { NodeStatesService, type AppliedState, type ControlPlaneStateUpdate } from '../nodes/node-states.service.js';
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
  ) {}

  /** Applies an agent's report; returns the stored state, or null when it was stale or about an unregistered model. */
  async fromAgent(nodeId: string, report: AgentModelState): Promise<NodeModelStateEntity | null> {
    const [applied] = await this.fromAgentReports(nodeId, [report]);
    return applied ?? null;
  }

  /** A heartbeat's worth of reports: one write for all of them, events for those that changed. */
  async fromAgentReports(nodeId: string, reports: readonly AgentModelState[]): Promise<NodeModelStateEntity[]> {
    const applied = await this.states.applyAgentStates(nodeId, reports);
    await this.announceMany(applied);
    return applied.map((a) => a.state);
  }

  /** Events for many written states at once (a rollout, a cancel): a few queries, not a few per node. */
  async announceMany(applied: readonly AppliedState[]): Promise<void> {
    await this.announce(
      applied.map(({ state, previous }) => ({ state, lifecycleChanged: previous !== state.lifecycleStatus })),
    );
  }

  async fromControlPlane(update: ControlPlaneStateUpdate): Promise<NodeModelStateEntity> {
    const before = await this.states.get(update.nodeId, update.modelId);
    const after = await this.states.setByControlPlane(update);
    await this.announce([{ state: after, lifecycleChanged: before?.lifecycleStatus !== after.lifecycleStatus }]);
    return after;
  }

  /**
   * One modelStatusChanged per state, carrying the state and its model read after the write (one query for all the
   * models, from their maintained aggregates: no reload of every node's state); nodeStatusChanged once per node whose
   * list of lifecycles changed.
   */
  private async announce(
    changes: ReadonlyArray<{ state: NodeModelStateEntity; lifecycleChanged: boolean }>,
  ): Promise<void> {
    if (changes.length === 0) return;
    const modelIds = [...new Set(changes.map((c) => c.state.modelId))];
    const views = new Map((await this.registry.findMany(modelIds)).map((v, i) => [modelIds[i]!, v]));
    for (const { state } of changes) {
      const view = views.get(state.modelId);
      if (view) await this.registry.publishChange(view, state);
    }
    await this.nodes.publishStatusOf([
      ...new Set(changes.filter((c) => c.lifecycleChanged).map((c) => c.state.nodeId)),
    ]);
  }
}
