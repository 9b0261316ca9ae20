import { Injectable, Logger } from '@nestjs/common';
import { Inject } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { AgentClient } from '../nodes/agent.client.js';
import type { NodeModelStateEntity } from '../nodes/entities/node-model-state.entity.js';
import { LifecycleStatus } from '../nodes/lifecycle-status.js';
import { NodeStatesService } from '../nodes/node-states.service.js';
import { NodeStatus } from '../nodes/node-status.js';
import { NodesService } from '../nodes/nodes.service.js';
import type { ModelView } from '../registry/registry.service.js';
import { RegistryService } from '../registry/registry.service.js';
import { DownloadDispatchStore } from './dispatch/download-dispatch.store.js';
import { DownloadTracker } from './dispatch/download-tracker.service.js';
import { DownloadsError, DownloadsErrorReason } from './downloads.errors.js';
import { ModelStateRelay } from './model-state-relay.service.js';

export const INSUFFICIENT_MEMORY = 'INSUFFICIENT_MEMORY';

/**
 * "Download now" and "stop": set-based writes whatever the number of nodes (one statement for the states, one for the
 * dispatches, one bulk enqueue), refused up front for nodes that could never hold the model.
 */
@Injectable()
export class DownloadsService {
  private readonly logger = new Logger(DownloadsService.name);

  constructor(
    private readonly registry: RegistryService,
    private readonly nodes: NodesService,
    private readonly states: NodeStatesService,
    private readonly relay: ModelStateRelay,
    private readonly agents: AgentClient,
    private readonly dispatches: DownloadDispatchStore,
    private readonly tracker: DownloadTracker,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async downloadModel(modelId: string, nodeIds: readonly string[] | null | undefined): Promise<NodeModelStateEntity[]> {
    const registration = await this.registry.getRegistered(modelId);
    const targets = await this.targets(nodeIds);
    const required = registration.model.requiredMemoryBytes;
    const bytesTotal = registration.files.reduce((sum, f) => sum + f.size, 0);
    const requests = targets.map((node) => ({
      nodeId: node.id,
      refusal:
        node.memoryBytes < required
          ? `Model ${modelId} needs ${gib(required)} of memory; node ${node.name} has ${gib(node.memoryBytes)}`
          : null,
    }));
    const written = await this.states.requestDownloads(modelId, requests, bytesTotal, INSUFFICIENT_MEMORY);
    const current = new Map(
      (
        await this.states.ofModelOnNodes(
          modelId,
          targets.map((t) => t.id),
        )
      ).map((s) => [s.nodeId, s]),
    );
    // Every node that could hold it and does not yet (including one on its way: the dispatch joins that download).
    const wanted = requests
      .filter((r) => r.refusal === null && current.get(r.nodeId)?.lifecycleStatus !== LifecycleStatus.READY)
      .map((r) => r.nodeId);
    const queued = await this.dispatches.queue(modelId, wanted, bytesTotal, this.config.DOWNLOAD_ATTEMPTS);
    await this.tracker.enqueue(modelId, queued);
    // One event per node: sent right after the answer, which waits only for the writes and the enqueue.
    await this.relay.announceManyDeferred(written);
    if (queued.length) this.logger.log(`Queued download of ${modelId} to ${queued.length} node(s)`);
    return targets.map((t) => current.get(t.id)!).filter((s) => s !== undefined);
  }

  /**
   * Stops the model's downloads on these nodes (every node when left out): the agents keep the partial files, so a
   * later downloadModel resumes them. Nodes that were not downloading it are returned as they are.
   */
  async cancelDownload(
    modelId: string,
    nodeIds: readonly string[] | null | undefined,
  ): Promise<NodeModelStateEntity[]> {
    await this.registry.getRegistered(modelId);
    const targets = await this.targets(nodeIds);
    const ids = targets.map((t) => t.id);
    const before = await this.states.ofModelOnNodes(modelId, ids);
    const active = before.filter(
      (s) => s.lifecycleStatus === LifecycleStatus.PENDING || s.lifecycleStatus === LifecycleStatus.DOWNLOADING,
    );
    // First the control plane's side, so no retry or sweep dispatches it again while the agents are told.
    await this.dispatches.cancel(
      modelId,
      active.map((s) => s.nodeId),
    );
    const failures: string[] = [];
    await Promise.all(
      targets
        // A pending node may be hearing its dispatch right now: an online one is told too (a no-op if it has nothing).
        .filter((t) =>
          active.some(
            (s) =>
              s.nodeId === t.id &&
              (s.lifecycleStatus === LifecycleStatus.DOWNLOADING || t.status === NodeStatus.ONLINE),
          ),
        )
        .map(async (node) => {
          try {
            const state = await this.agents.cancelDownload(node, modelId);
            if (state) await this.relay.fromAgentReports(node.id, [state]);
          } catch (err) {
            failures.push(`${node.name}: ${(err as Error).message}`);
          }
        }),
    );
    await this.relay.announceMany(
      await this.states.cancel(
        modelId,
        active.map((s) => s.nodeId),
      ),
    );
    if (failures.length) {
      throw new DownloadsError(
        DownloadsErrorReason.NODES_UNREACHABLE,
        `Could not stop the download of ${modelId} on every node (${failures.join('; ')}); it is marked CANCELLED and will not be retried, but the node may still finish it`,
        { modelId, failures },
      );
    }
    const after = new Map((await this.states.ofModelOnNodes(modelId, ids)).map((s) => [s.nodeId, s]));
    return ids.map((id) => after.get(id)).filter((s): s is NodeModelStateEntity => s !== undefined);
  }

  /** Removes the model's files from every node that has them, then unregisters it. */
  async deleteModel(modelId: string): Promise<ModelView> {
    await this.registry.getRegistered(modelId);
    const states = await this.states.forModels([modelId]);
    await this.dispatches.cancel(
      modelId,
      states.map((s) => s.nodeId),
    );
    const failures: string[] = [];
    for (const state of states) {
      const node = await this.nodes.find(state.nodeId);
      if (!node) continue;
      // Nothing ever reached this node's disk (queued, or refused for memory): there is nothing to remove there.
      if (
        state.bytesDone === 0 &&
        (state.lifecycleStatus === LifecycleStatus.PENDING || state.errorCode === INSUFFICIENT_MEMORY)
      ) {
        await this.states.remove(node.id, modelId);
        continue;
      }
      try {
        await this.agents.deleteModel(node, modelId);
        await this.states.remove(node.id, modelId);
      } catch (err) {
        failures.push(`${node.name}: ${(err as Error).message}`);
      }
    }
    if (failures.length) {
      throw new DownloadsError(
        DownloadsErrorReason.NODES_UNREACHABLE,
        `Could not remove ${modelId} from every node (${failures.join('; ')}); it stays registered: retry deleteModel when the node is back, or unregisterModel to drop it anyway`,
        { modelId, failures },
      );
    }
    return this.registry.unregister(modelId);
  }

  private async targets(nodeIds: readonly string[] | null | undefined) {
    if (nodeIds && nodeIds.length === 0) {
      throw new DownloadsError(DownloadsErrorReason.EMPTY_NODE_LIST, 'nodeIds is empty: leave it out for every node', {
        field: 'nodeIds',
      });
    }
    const targets = nodeIds ? await this.nodes.getMany([...new Set(nodeIds)]) : await this.nodes.list();
    if (targets.length === 0) {
      throw new DownloadsError(
        DownloadsErrorReason.NO_NODES,
        'No node has joined the fleet yet: start an agent (npm run start:agent)',
      );
    }
    return targets;
  }
}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}
