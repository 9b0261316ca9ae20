import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, Logger } from '@nestjs/common';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.tokens.js';
import {
  JobName,
  QueueName,
  WORKER_OPTIONS,
  type DispatchDownloadsJob,
  type DownloadModelJob,
} from '../../jobs/job-catalog.js';
import type { NodeEntity } from '../../nodes/entities/node.entity.js';
import { AgentClient } from '../../nodes/agent.client.js';
import { LifecycleStatus } from '../../nodes/lifecycle-status.js';
import { NodeStatus } from '../../nodes/node-status.js';
import { NodeStatesService } from '../../nodes/node-states.service.js';
import { NodesService } from '../../nodes/nodes.service.js';
import { RegistryService } from '../../registry/registry.service.js';
import type { ModelManifest } from '../../registry/manifest.js';
import type { AgentDownloadAccepted, AgentModelState } from '../../shared/agent-protocol.js';
import { DispatchPhase, DownloadDispatchStore } from '../dispatch/download-dispatch.store.js';
import { DOWNLOAD_FAILED, DownloadTracker } from '../dispatch/download-tracker.service.js';
import { ModelStateRelay } from '../model-state-relay.service.js';

/** Agent calls one batch job makes at once. */
export const DISPATCH_PARALLEL = 16;

/**
 * A dispatch: tells the node's agent to fetch the model and returns as soon as the agent accepted, so a worker slot is
 * held for a round trip, not for the transfer. The agent owns the transfer and reports; DownloadTracker follows it.
 * BullMQ retries only the dispatch itself (agent unreachable), with backoff.
 */
@Processor(QueueName.DOWNLOADS, { ...WORKER_OPTIONS, concurrency: 32 })
export class DownloadProcessor extends WorkerHost {
  private readonly logger = new Logger(DownloadProcessor.name);

  constructor(
    private readonly nodes: NodesService,
    private readonly registry: RegistryService,
    private readonly agents: AgentClient,
    private readonly relay: ModelStateRelay,
    private readonly states: NodeStatesService,
    private readonly dispatches: DownloadDispatchStore,
    private readonly tracker: DownloadTracker,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  async process(job: Job<DownloadModelJob | DispatchDownloadsJob>, token?: string): Promise<string> {
    if (job.name === (JobName.DISPATCH_DOWNLOADS as string)) return this.dispatchMany(job.data as DispatchDownloadsJob);
    return this.dispatchOne(job as Job<DownloadModelJob>, token);
  }

  /**
   * A batch: the nodes' queued downloads claimed in one statement (online nodes only), their agents told
   * DISPATCH_PARALLEL at a time. A node that is offline (or gone) is handed to a job of its own, which waits for it (or
   * gives up); an agent that could not be told gets its claim back and a job of its own after the backoff, so one
   * refusing or unreachable agent never holds up, nor repeats, the others' dispatch.
   */
  private async dispatchMany(data: DispatchDownloadsJob): Promise<string> {
    const { modelId, nodeIds } = data;
    const manifest = await this.registry.manifest(modelId).catch(() => null);
    if (!manifest) return 'model no longer registered';
    const claimed = await this.dispatches.claimMany(modelId, nodeIds, this.tracker.timeoutMs(manifest.totalBytes));
    // Still queued after the claim: their node is offline or gone (a job each decides which).
    const waiting = await this.dispatches.queuedOf(modelId, nodeIds);
    await this.tracker.enqueue(modelId, waiting, 0, true);
    const failed: Array<{ node: NodeEntity; error: Error }> = [];
    const ready: Array<{ node: NodeEntity; state: AgentModelState }> = [];
    let next = 0;
    const worker = async () => {
      for (let node = claimed[next++]; node !== undefined; node = claimed[next++]) {
        try {
          const accepted = await this.tell(node, modelId, manifest);
          if (accepted.state?.lifecycleStatus === 'READY') ready.push({ node, state: accepted.state });
        } catch (err) {
          failed.push({ node, error: err as Error });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(DISPATCH_PARALLEL, claimed.length) }, worker));
    for (const { node, state } of ready) await this.alreadyThere(node.id, modelId, state);
    if (failed.length > 0) {
      await this.dispatches.unmarkRunningMany(
        modelId,
        failed.map((f) => f.node.id),
      );
      for (const { node, error } of failed) {
        this.logger.warn(`Dispatch of ${modelId} to node ${node.name} failed (${error.message}); retried on its own`);
      }
      await this.tracker.enqueue(
        modelId,
        failed.map((f) => f.node.id),
        this.tracker.backoffMs(1),
        true,
      );
    }
    return `dispatched ${claimed.length - failed.length} of ${nodeIds.length} (${failed.length} to retry, ${waiting.length} waiting for their node)`;
  }

  private async dispatchOne(job: Job<DownloadModelJob>, token?: string): Promise<string> {
    const { nodeId, modelId } = job.data;
    const dispatch = await this.dispatches.get(nodeId, modelId);
    // Already running, finished, cancelled or given up: a duplicate or late job has nothing to do.
    if (dispatch?.phase !== DispatchPhase.QUEUED) return `nothing to do (${dispatch?.phase ?? 'no download'})`;
    const node = await this.nodes.find(nodeId);
    if (!node) throw new UnrecoverableError(`Node ${nodeId} no longer exists`);
    const manifest = await this.registry.manifest(modelId).catch(() => null);
    if (!manifest) return 'model no longer registered';

    if (node.status === NodeStatus.OFFLINE) {
      const waited = Date.now() - dispatch.requestedAt.getTime();
      if (waited > this.config.DOWNLOAD_NODE_WAIT_MS) {
        await this.giveUp(
          nodeId,
          modelId,
          `Node ${node.name} stayed offline for more than ${Math.round(this.config.DOWNLOAD_NODE_WAIT_MS / 1000)} s`,
        );
        throw new UnrecoverableError('node offline');
      }
      // Wait for the node without spending an attempt.
      await job.moveToDelayed(Date.now() + Math.min(5000, this.config.NODE_HEARTBEAT_INTERVAL_MS), token);
      throw new DelayedError();
    }

    // Running before the agent is told, so a failure it reports at once finds the attempt it belongs to.
    if (!(await this.dispatches.markRunning(nodeId, modelId, this.tracker.timeoutMs(manifest.totalBytes)))) {
      return 'cancelled meanwhile';
    }
    let accepted: AgentDownloadAccepted;
    try {
      accepted = await this.tell(node, modelId, manifest);
    } catch (err) {
      await this.dispatches.unmarkRunning(nodeId, modelId);
      throw err;
    }
    if (accepted.state?.lifecycleStatus === 'READY') {
      await this.alreadyThere(nodeId, modelId, accepted.state);
      return 'ready';
    }
    return 'dispatched';
  }

  private tell(node: NodeEntity, modelId: string, manifest: ModelManifest): Promise<AgentDownloadAccepted> {
    return this.agents.startDownload(node, { modelId, revision: manifest.revision, files: manifest.files });
  }

  /** Already here: nothing will be reported for it, so the agent's answer ends the download. */
  private async alreadyThere(nodeId: string, modelId: string, state: AgentModelState): Promise<void> {
    const written = await this.relay.fromAgentReports(nodeId, [state]);
    await this.tracker.observeWritten(nodeId, written);
    if (written.length === 0) await this.dispatches.markDone(nodeId, [modelId]);
  }

  /** The dispatch could not reach the agent on any attempt: the node × model goes to ERROR with the reason. */
  @OnWorkerEvent('failed')
  async onFailed(job: Job<DownloadModelJob | DispatchDownloadsJob>, error: Error): Promise<void> {
    const attemptsLeft = (job.opts.attempts ?? 1) - job.attemptsMade;
    if (attemptsLeft > 0 && error.name !== 'UnrecoverableError') return;
    if (job.name === (JobName.DISPATCH_DOWNLOADS as string)) {
      // The batch itself failed (its database or Redis calls): each node still queued gets a job of its own.
      const { modelId, nodeIds } = job.data as DispatchDownloadsJob;
      await this.tracker.enqueue(modelId, await this.dispatches.queuedOf(modelId, nodeIds), 0, true);
      return;
    }
    const { nodeId, modelId } = job.data as DownloadModelJob;
    await this.giveUp(nodeId, modelId, error.message);
  }

  private async giveUp(nodeId: string, modelId: string, reason: string): Promise<void> {
    if (!(await this.dispatches.giveUp(nodeId, modelId, reason))) return;
    const manifest = await this.registry.manifest(modelId).catch(() => null);
    if (!manifest) return;
    // The agent's own verdict (checksum mismatch, load failure...) says more than ours: keep it.
    if ((await this.states.get(nodeId, modelId))?.lifecycleStatus === LifecycleStatus.ERROR) return;
    this.logger.warn(`Download of ${modelId} to node ${nodeId} failed for good: ${reason}`);
    await this.relay.fromControlPlane({
      nodeId,
      modelId,
      lifecycleStatus: LifecycleStatus.ERROR,
      bytesTotal: manifest.totalBytes,
      errorCode: DOWNLOAD_FAILED,
      errorMessage: reason,
    });
  }
}
