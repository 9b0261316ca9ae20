import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Queue } from 'bullmq';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { downloadJobId, JobName, QueueName, type JobPayloads } from '../jobs/job-catalog.js';
import { AgentClient } from '../nodes/agent.client.js';
import type { NodeModelStateEntity } from '../nodes/entities/node-model-state.entity.js';
import type { NodeEntity } from '../nodes/entities/node.entity.js';
import { LifecycleStatus } from '../nodes/lifecycle-status.js';
import { NodeStatesService } from '../nodes/node-states.service.js';
import { NodesService } from '../nodes/nodes.service.js';
import type { ModelView } from '../registry/registry.service.js';
import { RegistryService } from '../registry/registry.service.js';
import { DownloadsError, DownloadsErrorReason } from './downloads.errors.js';
import { ModelStateRelay } from './model-state-relay.service.js';

export const INSUFFICIENT_MEMORY = 'INSUFFICIENT_MEMORY';

/** "Download now": one job per node × model, refused up front for nodes that could never hold the model. */
@Injectable()
export class DownloadsService {
  private readonly logger = new Logger(DownloadsService.name);

  constructor(
    @InjectQueue(QueueName.DOWNLOADS) private readonly queue: Queue<JobPayloads[JobName.DOWNLOAD_MODEL]>,
    private readonly registry: RegistryService,
    private readonly nodes: NodesService,
    private readonly states: NodeStatesService,
    private readonly relay: ModelStateRelay,
    private readonly agents: AgentClient,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async downloadModel(modelId: string, nodeIds: readonly string[] | null | undefined): Promise<NodeModelStateEntity[]> {
    const registration = await this.registry.getRegistered(modelId);
    if (nodeIds && nodeIds.length === 0) {
      throw new DownloadsError(
        DownloadsErrorReason.EMPTY_NODE_LIST,
        'nodeIds is empty: leave it out to download to every node',
        {
          field: 'nodeIds',
        },
      );
    }
    const targets = nodeIds ? await this.nodes.getMany([...new Set(nodeIds)]) : await this.nodes.list();
    if (targets.length === 0) {
      throw new DownloadsError(
        DownloadsErrorReason.NO_NODES,
        'No node has joined the fleet yet: start an agent (npm run start:agent)',
      );
    }
    const required = registration.model.requiredMemoryBytes;
    const bytesTotal = registration.files.reduce((sum, f) => sum + f.size, 0);
    const results: NodeModelStateEntity[] = [];
    for (const node of targets) {
      const current = await this.states.get(node.id, modelId);
      if (node.memoryBytes < required) {
        results.push(
          await this.relay.fromControlPlane({
            nodeId: node.id,
            modelId,
            lifecycleStatus: LifecycleStatus.ERROR,
            bytesTotal,
            errorCode: INSUFFICIENT_MEMORY,
            errorMessage: `Model ${modelId} needs ${gib(required)} of memory; node ${node.name} has ${gib(node.memoryBytes)}`,
          }),
        );
        continue;
      }
      if (current && current.lifecycleStatus === LifecycleStatus.READY) {
        results.push(current);
        continue;
      }
      const inFlight =
        current &&
        (current.lifecycleStatus === LifecycleStatus.DOWNLOADING ||
          current.lifecycleStatus === LifecycleStatus.LOADING);
      const state = inFlight
        ? current
        : await this.relay.fromControlPlane({
            nodeId: node.id,
            modelId,
            lifecycleStatus: LifecycleStatus.PENDING,
            bytesTotal,
          });
      await this.enqueue(node, modelId);
      results.push(state);
    }
    return results;
  }

  /** Removes the model's files from every node that has them, then unregisters it. */
  async deleteModel(modelId: string): Promise<ModelView> {
    await this.registry.getRegistered(modelId);
    const states = await this.states.forModels([modelId]);
    const failures: string[] = [];
    for (const state of states) {
      await this.queue.remove(downloadJobId(state.nodeId, modelId)).catch(() => 0);
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

  private async enqueue(node: NodeEntity, modelId: string): Promise<void> {
    const jobId = downloadJobId(node.id, modelId);
    const existing = await this.queue.getJob(jobId);
    // A finished or failed job of the same id would make BullMQ ignore the new one.
    if (existing && ((await existing.isCompleted()) || (await existing.isFailed()))) await existing.remove();
    await this.queue.add(
      JobName.DOWNLOAD_MODEL,
      { nodeId: node.id, modelId, requestedAt: new Date().toISOString() },
      {
        jobId,
        attempts: this.config.DOWNLOAD_ATTEMPTS,
        backoff: { type: 'exponential', delay: this.config.DOWNLOAD_BACKOFF_MS },
        removeOnComplete: true,
        removeOnFail: 1000,
      },
    );
    this.logger.log(`Queued download of ${modelId} to node ${node.name}`);
  }
}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}
