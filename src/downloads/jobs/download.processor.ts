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
import type { AgentDownloadEvent, AgentModelState } from '../../shared/agent-protocol.js';
import { ModelStateRelay } from '../model-state-relay.service.js';
import { ProgressCoalescer } from './progress-coalescer.js';

/** The agent sends a state line at least every few seconds; this much silence means the connection is dead. */
const AGENT_SILENCE_MS = 60_000;

@Processor(QueueName.DOWNLOADS, { ...WORKER_OPTIONS, maxStalledCount: 10 })
export class DownloadProcessor extends WorkerHost {
  private readonly logger = new Logger(DownloadProcessor.name);

  constructor(
    private readonly nodes: NodesService,
    private readonly registry: RegistryService,
    private readonly agents: AgentClient,
    private readonly relay: ModelStateRelay,
    private readonly states: NodeStatesService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  async process(job: Job<DownloadModelJob>, token?: string): Promise<string> {
    const { nodeId, modelId } = job.data;
    const node = await this.nodes.find(nodeId);
    if (!node) throw new UnrecoverableError(`Node ${nodeId} no longer exists`);
    const manifest = await this.registry.manifest(modelId).catch(() => null);
    if (!manifest) return 'model no longer registered';

    if (node.status === NodeStatus.OFFLINE) {
      const waited = Date.now() - Date.parse(job.data.requestedAt);
      if (waited > this.config.DOWNLOAD_NODE_WAIT_MS) {
        await this.giveUp(
          job,
          `Node ${node.name} stayed offline for more than ${Math.round(this.config.DOWNLOAD_NODE_WAIT_MS / 1000)} s`,
        );
        throw new UnrecoverableError('node offline');
      }
      // Wait for the node without spending an attempt.
      await job.moveToDelayed(Date.now() + Math.min(5000, this.config.NODE_HEARTBEAT_INTERVAL_MS), token);
      throw new DelayedError();
    }

    const coalescer = new ProgressCoalescer<AgentModelState>(this.config.PROGRESS_EVENT_INTERVAL_MS, (s) =>
      this.relay.fromAgent(nodeId, s).then(() => undefined),
    );
    const controller = new AbortController();
    let silence = setTimeout(() => controller.abort(), AGENT_SILENCE_MS);
    let terminal: AgentDownloadEvent;
    try {
      terminal = await this.agents.download(
        node,
        { modelId, revision: manifest.revision, files: manifest.files },
        async (event) => {
          clearTimeout(silence);
          silence = setTimeout(() => controller.abort(), AGENT_SILENCE_MS);
          if (event.type === 'state') await coalescer.push(event.state, event.state.lifecycleStatus);
        },
        controller.signal,
      );
    } finally {
      clearTimeout(silence);
      await coalescer.flush();
    }
    await this.relay.fromAgent(nodeId, terminal.state);
    if (terminal.type === 'done') return 'ready';
    const message = terminal.state.errorMessage ?? 'download failed';
    if (terminal.type === 'failed' && !terminal.retryable) throw new UnrecoverableError(message);
    throw new Error(message);
  }

  /** A failed attempt; once none is left (or it cannot succeed), the node × model goes to ERROR with the reason. */
  @OnWorkerEvent('failed')
  async onFailed(job: Job<DownloadModelJob>, error: Error): Promise<void> {
    const attemptsLeft = (job.opts.attempts ?? 1) - job.attemptsMade;
    if (attemptsLeft > 0 && error.name !== 'UnrecoverableError') return;
    await this.giveUp(job, error.message);
  }

  private async giveUp(job: Job<DownloadModelJob>, reason: string): Promise<void> {
    const { nodeId, modelId } = job.data;
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
      errorCode: 'DOWNLOAD_FAILED',
      errorMessage: reason,
    });
  }
}
