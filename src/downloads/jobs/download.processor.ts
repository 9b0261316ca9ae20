import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, Logger } from '@nestjs/common';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.tokens.js';
import { QueueName, WORKER_OPTIONS, type DownloadModelJob } from '../../jobs/job-catalog.js';
import { AgentClient } from '../../nodes/agent.client.js';
import { LifecycleStatus } from '../../nodes/lifecycle-status.js';
import { NodeStatus } from '../../nodes/node-status.js';
import { NodeStatesService } from '../../nodes/node-states.service.js';
import { NodesService } from '../../nodes/nodes.service.js';
import { RegistryService } from '../../registry/registry.service.js';
import type { AgentDownloadAccepted } from '../../shared/agent-protocol.js';
import { DispatchPhase, DownloadDispatchStore } from '../dispatch/download-dispatch.store.js';
import { DOWNLOAD_FAILED, DownloadTracker } from '../dispatch/download-tracker.service.js';
import { ModelStateRelay } from '../model-state-relay.service.js';

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

  async process(job: Job<DownloadModelJob>, token?: string): Promise<string> {
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
      accepted = await this.agents.startDownload(node, {
        modelId,
        revision: manifest.revision,
        files: manifest.files,
      });
    } catch (err) {
      await this.dispatches.unmarkRunning(nodeId, modelId);
      throw err;
    }
    // Already here: nothing will be reported for it, so the answer ends the download.
    if (accepted.state?.lifecycleStatus === 'READY') {
      const written = await this.relay.fromAgentReports(nodeId, [accepted.state]);
      await this.tracker.observeWritten(nodeId, written);
      if (written.length === 0) await this.dispatches.markDone(nodeId, [modelId]);
      return 'ready';
    }
    return 'dispatched';
  }

  /** The dispatch could not reach the agent on any attempt: the node × model goes to ERROR with the reason. */
  @OnWorkerEvent('failed')
  async onFailed(job: Job<DownloadModelJob>, error: Error): Promise<void> {
    const attemptsLeft = (job.opts.attempts ?? 1) - job.attemptsMade;
    if (attemptsLeft > 0 && error.name !== 'UnrecoverableError') return;
    await this.giveUp(job.data.nodeId, job.data.modelId, error.message);
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
