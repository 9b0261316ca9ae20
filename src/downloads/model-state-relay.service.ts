import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { NodeModelStateEntity } from '../nodes/entities/node-model-state.entity.js';
import { NodeStatesService, type AppliedState, type ControlPlaneStateUpdate } from '../nodes/node-states.service.js';
import { NodesService } from '../nodes/nodes.service.js';
import { RegistryService, type ModelView } from '../registry/registry.service.js';
import type { AgentModelState } from '../shared/agent-protocol.js';
import { Grouped } from './grouped.js';
import { ModelEventCoalescer } from './model-event-coalescer.service.js';

interface Change {
  state: NodeModelStateEntity;
  lifecycleChanged: boolean;
}

/**
 * Hears the agents' reports that were written (newer than what was stored), after their write and events, with the
 * reports themselves (what the stored row does not keep, such as the repair a state belongs to).
 */
export type AgentStatesObserver = (
  nodeId: string,
  written: readonly NodeModelStateEntity[],
  reports: readonly AgentModelState[],
) => Promise<void>;

/** Events sent to Redis at once, at most. */
const PUBLISH_BATCH = 256;

/**
 * Writes node × model states and tells subscribers, after the write: `modelStatusChanged` with the model's derived
 * status and this node's lifecycle and progress; `nodeStatusChanged` when a lifecycle changed.
 */
@Injectable()
export class ModelStateRelay implements OnApplicationShutdown {
  private readonly logger = new Logger(ModelStateRelay.name);
  /** Announcements still going out after their caller answered, in the order they were made. */
  private deferred: Promise<void> = Promise.resolve();
  /** Agents' reports written, waiting for their events (one group at a time). */
  private readonly reported = new Grouped<Change>((changes) => this.announce(changes));
  private readonly observers: AgentStatesObserver[] = [];

  constructor(
    private readonly states: NodeStatesService,
    private readonly nodes: NodesService,
    private readonly registry: RegistryService,
    private readonly modelEvents: ModelEventCoalescer,
  ) {}

  /** Applies an agent's report; returns the stored state, or null when it was stale or about an unregistered model. */
  async fromAgent(nodeId: string, report: AgentModelState): Promise<NodeModelStateEntity | null> {
    const [applied] = await this.fromAgentReports(nodeId, [report]);
    return applied ?? null;
  }

  /** Another module follows what agents report (the repair tracker): called for every report written, in order. */
  observeAgentStates(observer: AgentStatesObserver): void {
    this.observers.push(observer);
  }

  /**
   * A heartbeat's worth of reports: one write for all of them, events for those that changed. The events of reports
   * that arrive together (a rollout's hundreds of agents) go out together: one read of their models and one of their
   * nodes per group, not per report.
   */
  async fromAgentReports(nodeId: string, reports: readonly AgentModelState[]): Promise<NodeModelStateEntity[]> {
    return this.followUp(nodeId, reports, await this.states.applyAgentStates(nodeId, reports));
  }

  /**
   * As fromAgentReports, from the node that holds this token (its hash), checked in the same statement as the write:
   * null, with nothing written, when it does not hold it.
   */
  async fromAgentReportsAs(
    nodeId: string,
    tokenHash: string,
    reports: readonly AgentModelState[],
  ): Promise<NodeModelStateEntity[] | null> {
    const applied = await this.states.applyAgentStatesAs(nodeId, tokenHash, reports);
    return applied && this.followUp(nodeId, reports, applied);
  }

  private async followUp(
    nodeId: string,
    reports: readonly AgentModelState[],
    applied: readonly AppliedState[],
  ): Promise<NodeModelStateEntity[]> {
    await this.reported.add(
      applied.map(({ state, previous }) => ({ state, lifecycleChanged: previous !== state.lifecycleStatus })),
    );
    const written = applied.map((a) => a.state);
    if (written.length > 0) for (const observe of this.observers) await observe(nodeId, written, reports);
    return written;
  }

  /** Events for many written states at once (a rollout, a cancel): a few queries, not a few per node. */
  async announceMany(applied: readonly AppliedState[]): Promise<void> {
    await this.announce(
      applied.map(({ state, previous }) => ({ state, lifecycleChanged: previous !== state.lifecycleStatus })),
    );
  }

  /**
   * As announceMany, for a write to many nodes at once (a rollout): the first event is sent before this resolves (it
   * drops this replica's cached answers at once, so the caller reads its own write), the others right after, in order
   * with earlier deferred announcements. A rollout's answer then waits for the writes, not for one event per node;
   * every event still carries what the database holds (versioned snapshots: a late one never shows older data).
   */
  async announceManyDeferred(applied: readonly AppliedState[]): Promise<void> {
    const changes = applied.map(({ state, previous }) => ({
      state,
      lifecycleChanged: previous !== state.lifecycleStatus,
    }));
    if (changes.length === 0) return;
    const views = await this.viewsOf(changes);
    await this.publishModelEvents(views, changes.slice(0, 1));
    this.deferred = this.deferred
      .then(async () => {
        await this.publishModelEvents(views, changes.slice(1));
        await this.publishNodeEvents(changes);
        this.modelEvents.touched(views.keys());
      })
      .catch((err: unknown) => this.logger.error(`Could not announce ${changes.length} state(s): ${String(err)}`));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.deferred;
    await this.reported.idle();
  }

  async fromControlPlane(update: ControlPlaneStateUpdate): Promise<NodeModelStateEntity> {
    const before = await this.states.get(update.nodeId, update.modelId);
    const after = await this.states.setByControlPlane(update);
    await this.announce([{ state: after, lifecycleChanged: before?.lifecycleStatus !== after.lifecycleStatus }]);
    return after;
  }

  /**
   * modelStatusChanged through the coalescer (a transition at once, progress a few times a second per model, each
   * event reading its model from the maintained aggregates: no reload of every node's state); nodeStatusChanged once
   * per node whose list of lifecycles changed.
   */
  private async announce(
    changes: ReadonlyArray<{ state: NodeModelStateEntity; lifecycleChanged: boolean }>,
  ): Promise<void> {
    if (changes.length === 0) return;
    await this.modelEvents.publish(
      changes.filter((c) => c.lifecycleChanged).map((c) => c.state),
      changes.filter((c) => !c.lifecycleChanged).map((c) => c.state),
    );
    await this.publishNodeEvents(changes);
  }

  /** The models of these states, read after the write (one query for all, from their maintained aggregates). */
  private async viewsOf(changes: ReadonlyArray<{ state: NodeModelStateEntity }>) {
    const modelIds = [...new Set(changes.map((c) => c.state.modelId))];
    return new Map((await this.registry.findMany(modelIds)).map((v, i) => [modelIds[i]!, v]));
  }

  /** One modelStatusChanged per state, issued together (one Redis connection keeps their order). */
  private async publishModelEvents(
    views: Map<string, ModelView | null>,
    changes: ReadonlyArray<{ state: NodeModelStateEntity }>,
  ): Promise<void> {
    for (let i = 0; i < changes.length; i += PUBLISH_BATCH) {
      await Promise.all(
        changes.slice(i, i + PUBLISH_BATCH).map(({ state }) => {
          const view = views.get(state.modelId);
          return view ? this.registry.publishChange(view, state) : Promise.resolve();
        }),
      );
    }
  }

  /** nodeStatusChanged once per node whose list of lifecycles changed. */
  private async publishNodeEvents(
    changes: ReadonlyArray<{ state: NodeModelStateEntity; lifecycleChanged: boolean }>,
  ): Promise<void> {
    await this.nodes.publishStatusOf([
      ...new Set(changes.filter((c) => c.lifecycleChanged).map((c) => c.state.nodeId)),
    ]);
  }
}
