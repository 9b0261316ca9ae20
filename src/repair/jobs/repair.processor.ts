import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, Logger } from '@nestjs/common';
import type { Job } from 'bullmq';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.tokens.js';
import { ProgressCoalescer } from '../../downloads/jobs/progress-coalescer.js';
import { ModelStateRelay } from '../../downloads/model-state-relay.service.js';
import { QueueName, WORKER_OPTIONS, type RepairModelJob } from '../../jobs/job-catalog.js';
import { AgentClient } from '../../nodes/agent.client.js';
import { NodeStatus } from '../../nodes/node-status.js';
import { NodesService } from '../../nodes/nodes.service.js';
import { RegistryService } from '../../registry/registry.service.js';
import type { AgentDownloadEvent, AgentModelState } from '../../shared/agent-protocol.js';
import { RepairStatus } from '../repair-status.js';
import { RepairService } from '../repair.service.js';

/** Resuming a truncated file is tried first; if its bytes turn out wrong, once more from zero. */
const MAX_ATTEMPTS = 2;

@Processor(QueueName.REPAIRS, { ...WORKER_OPTIONS })
export class RepairProcessor extends WorkerHost {
  private readonly logger = new Logger(RepairProcessor.name);

  constructor(
    private readonly repairs: RepairService,
    private readonly nodes: NodesService,
    private readonly registry: RegistryService,
    private readonly agents: AgentClient,
    private readonly relay: ModelStateRelay,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    super();
  }

  async process(job: Job<RepairModelJob>): Promise<string> {
    const task = await this.repairs.get(job.data.repairId);
    if (!task || task.status !== RepairStatus.IN_PROGRESS) return 'nothing to do';
    const node = await this.nodes.find(task.nodeId);
    const manifest = await this.registry.manifest(task.modelId).catch(() => null);
    if (!node || !manifest) {
      await this.repairs.finish(
        task,
        RepairStatus.FAILED,
        node ? 'The model is no longer registered' : 'The node no longer exists',
      );
      return 'gone';
    }
    if (node.status === NodeStatus.OFFLINE) {
      await this.repairs.finish(task, RepairStatus.FAILED, `Node ${node.name} is offline`);
      return 'offline';
    }
    const deadline = task.startedAt.getTime() + task.timeoutMs;
    let fromZero = task.fromZero;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      await this.repairs.recordAttempt(task);
      const left = deadline - Date.now();
      if (left <= 0) break;
      const coalescer = new ProgressCoalescer<AgentModelState>(this.config.PROGRESS_EVENT_INTERVAL_MS, (s) =>
        this.relay.fromAgent(node.id, s).then(() => undefined),
      );
      let terminal: AgentDownloadEvent;
      try {
        terminal = await this.agents.repair(
          node,
          {
            modelId: task.modelId,
            revision: manifest.revision,
            files: manifest.files,
            repairId: task.id,
            reason: task.reason,
            fromZero,
            deadline: new Date(deadline).toISOString(),
          },
          async (event) => coalescer.push(event.state, event.state.lifecycleStatus),
          AbortSignal.timeout(left),
        );
      } catch (err) {
        await coalescer.flush();
        const timedOut = Date.now() >= deadline;
        const message = timedOut
          ? `Repair timed out after ${Math.round(task.timeoutMs / 1000)} s`
          : (err as Error).message;
        await this.repairs.finish(task, RepairStatus.FAILED, message);
        return 'failed';
      }
      await coalescer.flush();
      await this.relay.fromAgent(node.id, terminal.state);
      if (terminal.type === 'done') {
        await this.repairs.finish(task, RepairStatus.SUCCESS, null);
        this.logger.log(`Repaired ${task.modelId} on node ${node.name} in ${Date.now() - task.startedAt.getTime()} ms`);
        return 'repaired';
      }
      if (!fromZero && terminal.state.errorCode === 'CHECKSUM_MISMATCH' && attempt < MAX_ATTEMPTS) {
        fromZero = true;
        continue;
      }
      await this.repairs.finish(task, RepairStatus.FAILED, terminal.state.errorMessage ?? 'Repair failed');
      return 'failed';
    }
    await this.repairs.finish(
      task,
      RepairStatus.FAILED,
      `Repair timed out after ${Math.round(task.timeoutMs / 1000)} s`,
    );
    return 'timed out';
  }
}
