import { Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job } from 'bullmq';
import { QueueName, WORKER_OPTIONS, type RepairModelJob } from '../../jobs/job-catalog.js';
import { AgentClient } from '../../nodes/agent.client.js';
import { NodeStatus } from '../../nodes/node-status.js';
import { NodesService } from '../../nodes/nodes.service.js';
import { RegistryService } from '../../registry/registry.service.js';
import { RepairStatus } from '../repair-status.js';
import { attemptFromZero, repairDeadline, repairTimedOutMessage } from '../repair-tracker.service.js';
import { RepairService } from '../repair.service.js';

/**
 * One attempt of a repair: tells the node's agent to run it and returns as soon as the agent accepted, so a worker slot
 * is held for a round trip, not for the transfer. The agent owns the repair and reports it; RepairTracker follows it.
 */
@Processor(QueueName.REPAIRS, { ...WORKER_OPTIONS })
export class RepairProcessor extends WorkerHost {
  constructor(
    private readonly repairs: RepairService,
    private readonly nodes: NodesService,
    private readonly registry: RegistryService,
    private readonly agents: AgentClient,
  ) {
    super();
  }

  async process(job: Job<RepairModelJob>): Promise<string> {
    const attempt = job.data.attempt ?? 1;
    const task = await this.repairs.get(job.data.repairId);
    if (!task || task.status !== RepairStatus.IN_PROGRESS) return 'nothing to do';
    // A later attempt already started: this job is late.
    if (task.attempts > attempt) return 'superseded';
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
    const deadline = repairDeadline(task);
    if (deadline <= Date.now()) {
      await this.repairs.finish(task, RepairStatus.FAILED, repairTimedOutMessage(task));
      return 'timed out';
    }
    // Recorded before the agent is told, so what it reports finds the attempt it belongs to. A job run again (its
    // replica died after recording) finds the attempt recorded and tells the agent again, which joins the one running.
    if (task.attempts < attempt && !(await this.repairs.recordAttempt(task, attempt))) {
      const now = await this.repairs.get(task.id);
      if (now?.status !== RepairStatus.IN_PROGRESS || now.attempts !== attempt) return 'moved on meanwhile';
    }
    try {
      await this.agents.repair(
        node,
        {
          modelId: task.modelId,
          revision: manifest.revision,
          files: manifest.files,
          repairId: task.id,
          attempt,
          reason: task.reason,
          fromZero: attemptFromZero(task, attempt),
          deadline: new Date(deadline).toISOString(),
        },
        AbortSignal.timeout(Math.max(1, deadline - Date.now())),
      );
    } catch (err) {
      const message = Date.now() >= deadline ? repairTimedOutMessage(task) : (err as Error).message;
      await this.repairs.finish(task, RepairStatus.FAILED, message);
      return 'failed';
    }
    return `attempt ${attempt} dispatched`;
  }
}
