import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Queue } from 'bullmq';
import { In, MoreThan, QueryFailedError, Repository, type FindOptionsWhere } from 'typeorm';
import { z } from 'zod';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { ModelStateRelay } from '../downloads/model-state-relay.service.js';
import { EventsService } from '../events/events.service.js';
import { Topic } from '../events/topics.js';
import { JobName, QueueName, repairJobId, type JobPayloads } from '../jobs/job-catalog.js';
import { AgentClient } from '../nodes/agent.client.js';
import type { NodeModelStateEntity } from '../nodes/entities/node-model-state.entity.js';
import type { NodeEntity } from '../nodes/entities/node.entity.js';
import { NodeStatus } from '../nodes/node-status.js';
import { NodesService } from '../nodes/nodes.service.js';
import { LifecycleStatus } from '../nodes/lifecycle-status.js';
import { NodeStatesService } from '../nodes/node-states.service.js';
import { RegistryService } from '../registry/registry.service.js';
import type { FailureReport, FailureReportResponse } from '../shared/agent-protocol.js';
import { ModelLoadError } from '../shared/model-load-error.js';
import { RepairTaskEntity } from './entities/repair-task.entity.js';
import { decideRepair, repairTimeoutMs } from './repair-policy.js';
import { repairPayload } from './repair-events.js';
import { RepairError, RepairErrorReason } from './repair.errors.js';
import { RepairStatus, RepairTrigger } from './repair-status.js';

const failureReportSchema = z.object({
  modelId: z.string().min(1).max(512),
  code: z.nativeEnum(ModelLoadError),
  message: z.string().max(4000),
  trigger: z.enum(['REQUEST', 'STARTUP', 'SWEEP', 'VERIFY']),
  resumable: z.boolean().optional(),
});

export interface RepairFilter {
  nodeId?: string | null;
  modelId?: string | null;
  status?: RepairStatus | null;
  limit?: number | null;
}

/**
 * The repair policy's home: failure reports come in, at most one repair per node × model goes out (the database's
 * partial unique index settles races), every repair is recorded and published.
 */
@Injectable()
export class RepairService {
  private readonly logger = new Logger(RepairService.name);

  constructor(
    @InjectRepository(RepairTaskEntity) private readonly tasks: Repository<RepairTaskEntity>,
    @InjectQueue(QueueName.REPAIRS) private readonly queue: Queue<JobPayloads[JobName.REPAIR_MODEL]>,
    private readonly registry: RegistryService,
    private readonly states: NodeStatesService,
    private readonly relay: ModelStateRelay,
    private readonly events: EventsService,
    private readonly nodes: NodesService,
    private readonly agents: AgentClient,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async reportFailure(node: NodeEntity, body: unknown): Promise<FailureReportResponse> {
    const parsed = failureReportSchema.safeParse(body);
    if (!parsed.success) {
      throw new RepairError(
        RepairErrorReason.INVALID_REPORT,
        `Invalid failure report: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    const report: FailureReport = parsed.data;
    const running = await this.inProgress(node.id, report.modelId);
    if (running) return this.repairing(running);

    const decision = decideRepair({
      code: report.code,
      resumable: report.resumable ?? false,
      autoRepair: this.config.AUTO_REPAIR,
      manual: false,
      consecutiveFailures: await this.consecutiveFailures(node.id, report.modelId),
      breakerThreshold: this.config.REPAIR_BREAKER_THRESHOLD,
    });
    if (decision.action !== 'REPAIR') {
      await this.markError(node.id, report.modelId, report.code, `${report.message}. ${decision.reason}`);
      return { action: decision.action, repairId: null, reason: decision.reason, retryAfterSeconds: 0, deadline: null };
    }
    const task = await this.start(
      node.id,
      report.modelId,
      report.code,
      report.message,
      report.trigger as RepairTrigger,
      decision.fromZero,
    );
    return this.repairing(task);
  }
  /** How many repair tasks are in each status. */
  async countByStatus(): Promise<Map<RepairStatus, number>> {
    const rows = await this.tasks.query<Array<{ status: RepairStatus; n: number }>>(
      'SELECT status, count(*)::int AS n FROM repair_tasks GROUP BY status',
    );
    const counts = new Map<RepairStatus, number>(Object.values(RepairStatus).map((s) => [s, 0]));
    for (const r of rows) counts.set(r.status, r.n);
    return counts;
  }

  /** repairModel: always runs (the breaker and AUTO_REPAIR only stop automatic repairs); joins one in progress. */
  async repairByHand(modelId: string, nodeId: string): Promise<RepairTaskEntity> {
    await this.nodes.getOne(nodeId, 'nodeId');
    const state = await this.stateOnNode(nodeId, modelId);
    const running = await this.inProgress(nodeId, modelId);
    if (running) return running;
    const code = (Object.values(ModelLoadError) as string[]).includes(state.errorCode ?? '')
      ? (state.errorCode as ModelLoadError)
      : ModelLoadError.CORRUPTED;
    return this.start(
      nodeId,
      modelId,
      code,
      state.errorMessage ?? 'Repair requested by hand',
      RepairTrigger.MANUAL,
      true,
    );
  }

  /**
   * verifyModel: a full sha256 of the node's copy. A mismatch is reported by the agent itself (as its sweep does), so
   * the repair starts and the agent answers requests with 503 meanwhile.
   */
  async verify(modelId: string, nodeId: string): Promise<NodeModelStateEntity> {
    const node = await this.nodes.getOne(nodeId, 'nodeId');
    const state = await this.stateOnNode(nodeId, modelId);
    if (node.status === NodeStatus.OFFLINE) {
      throw new RepairError(RepairErrorReason.NODE_OFFLINE, `Node ${node.name} is offline; verify it when it is back`, {
        nodeId,
      });
    }
    const result = await this.agents.verify(node, modelId);
    if (!result.state) return state;
    await this.relay.fromAgent(node.id, result.state);
    // What the verification found, even if the repair it started has already moved the state on.
    return Object.assign(Object.create(Object.getPrototypeOf(state) as object) as NodeModelStateEntity, state, {
      lifecycleStatus: result.state.lifecycleStatus as LifecycleStatus,
      bytesDone: result.state.bytesDone,
      filePath: result.state.filePath,
      errorCode: result.state.errorCode,
      errorMessage: result.state.errorMessage,
      updatedAt: new Date(),
    });
  }

  /** The latest repair of a model on each node where it had one. */
  async latestPerNode(modelId: string): Promise<RepairTaskEntity[]> {
    return this.tasks
      .createQueryBuilder('t')
      .distinctOn(['t.node_id'])
      .where('t.model_id = :modelId', { modelId })
      .orderBy('t.node_id')
      .addOrderBy('t.started_at', 'DESC')
      .getMany();
  }

  async list(filter: RepairFilter): Promise<RepairTaskEntity[]> {
    const where: FindOptionsWhere<RepairTaskEntity> = {};
    if (filter.nodeId) where.nodeId = filter.nodeId;
    if (filter.modelId) where.modelId = filter.modelId;
    if (filter.status) where.status = filter.status;
    return this.tasks.find({
      where,
      order: { startedAt: 'DESC' },
      take: Math.min(Math.max(filter.limit ?? 50, 1), 500),
    });
  }

  async forNodes(nodeIds: readonly string[]): Promise<RepairTaskEntity[]> {
    return this.tasks.find({ where: { nodeId: In([...nodeIds]) }, order: { startedAt: 'DESC' } });
  }

  async get(id: string): Promise<RepairTaskEntity | null> {
    return this.tasks.findOneBy({ id });
  }

  /**
   * Ends a repair in progress, once: the write is conditional (status IN_PROGRESS), so of two replicas (or the tracker's
   * observation and its sweep) only one ends it, publishes it and, on FAILED, marks the node × model and retries.
   * Returns whether this call ended it.
   */
  async finish(
    task: RepairTaskEntity,
    status: RepairStatus.SUCCESS | RepairStatus.FAILED,
    errorMessage: string | null,
  ): Promise<boolean> {
    const finishedAt = new Date();
    const rows = await this.tasks.query<Array<{ attempts: number }>>(
      `WITH u AS (
         UPDATE repair_tasks SET status = $2, error_message = $3, finished_at = $4
          WHERE id = $1 AND status = 'IN_PROGRESS' RETURNING attempts
       ) SELECT * FROM u`,
      [task.id, status, errorMessage, finishedAt],
    );
    if (rows.length === 0) return false;
    task.status = status;
    task.errorMessage = errorMessage;
    task.finishedAt = finishedAt;
    task.attempts = rows[0]!.attempts;
    await this.publish(task);
    if (status === RepairStatus.FAILED) {
      const { message, tripped } = await this.failureVerdict(task);
      await this.markError(task.nodeId, task.modelId, task.reason, message);
      // Keep trying on our own, with a pause, until the breaker trips; a repair asked for by hand is not repeated.
      if (!tripped && this.config.AUTO_REPAIR && task.trigger !== RepairTrigger.MANUAL) {
        await this.start(
          task.nodeId,
          task.modelId,
          task.reason,
          task.detail,
          task.trigger,
          task.fromZero,
          this.config.REPAIR_RETRY_DELAY_MS,
        );
      }
    }
    return true;
  }

  /**
   * What a failed repair means for its node × model, from the repair records (not from the node's state, which the
   * agent may overwrite): the failure, and the breaker's verdict once it tripped.
   */
  async failureVerdict(task: RepairTaskEntity): Promise<{ message: string; tripped: boolean }> {
    const failures = await this.consecutiveFailures(task.nodeId, task.modelId);
    const tripped = failures >= this.config.REPAIR_BREAKER_THRESHOLD;
    const breaker = tripped
      ? ` Automatic repair stopped after ${failures} failed repairs in a row; run repairModel once the cause is fixed.`
      : '';
    return { message: `Repair failed: ${task.errorMessage ?? 'unknown error'}.${breaker}`, tripped };
  }

  /**
   * Attempt `attempt` of a repair starts (before its agent is told, so what the agent reports finds it): recorded once
   * (conditional on the previous attempt), published. Returns false when the repair ended or moved on meanwhile.
   */
  async recordAttempt(task: RepairTaskEntity, attempt = task.attempts + 1): Promise<boolean> {
    const rows = await this.tasks.query<unknown[]>(
      `WITH u AS (
         UPDATE repair_tasks SET attempts = $2 WHERE id = $1 AND status = 'IN_PROGRESS' AND attempts = $2 - 1 RETURNING 1
       ) SELECT * FROM u`,
      [task.id, attempt],
    );
    if (rows.length === 0) return false;
    task.attempts = attempt;
    await this.publish(task);
    return true;
  }

  /** Queues the job that tells the agent to start this attempt (its id keeps one job per repair and attempt). */
  async dispatch(task: RepairTaskEntity, attempt: number, delayMs = 0): Promise<void> {
    await this.queue.add(
      JobName.REPAIR_MODEL,
      { repairId: task.id, nodeId: task.nodeId, modelId: task.modelId, attempt },
      {
        jobId: repairJobId(task.id, attempt),
        delay: delayMs,
        removeOnComplete: true,
        removeOnFail: true,
        attempts: 1,
      },
    );
  }

  /** The repairs in progress on the node whose agent has been told of them (an attempt started). */
  async sentTo(nodeId: string): Promise<RepairTaskEntity[]> {
    return this.tasks.findBy({ nodeId, status: RepairStatus.IN_PROGRESS, attempts: MoreThan(0) });
  }

  /** The repairs in progress of these node × model pairs (one query however many). */
  async inProgressAmong(pairs: ReadonlyArray<{ nodeId: string; modelId: string }>): Promise<RepairTaskEntity[]> {
    if (pairs.length === 0) return [];
    return this.tasks
      .createQueryBuilder('t')
      .where(`t.status = :status`, { status: RepairStatus.IN_PROGRESS })
      .andWhere(`(t.node_id, t.model_id) IN (SELECT * FROM unnest(CAST(:nodes AS uuid[]), CAST(:models AS text[])))`, {
        nodes: pairs.map((p) => p.nodeId),
        models: pairs.map((p) => p.modelId),
      })
      .getMany();
  }

  /**
   * Repairs in progress that must end now: past their deadline, or on a node that is OFFLINE or gone. With the
   * node's name (null when it is gone) and whether it is offline.
   */
  async due(limit = 500): Promise<Array<{ task: RepairTaskEntity; nodeName: string | null; offline: boolean }>> {
    const { entities, raw } = await this.tasks
      .createQueryBuilder('t')
      .leftJoin('nodes', 'n', 'n.id = t.node_id')
      .addSelect(['n.name AS node_name', 'n.status AS node_status'])
      .where(`t.status = 'IN_PROGRESS'`)
      .andWhere(
        `(n.id IS NULL OR n.status = 'OFFLINE'
          OR t.started_at + make_interval(secs => t.timeout_ms::double precision / 1000) < now())`,
      )
      .limit(limit)
      .getRawAndEntities<{ t_id: string; node_name: string | null; node_status: string | null }>();
    const nodeOf = new Map(raw.map((r) => [r.t_id, r]));
    return entities.map((task) => ({
      task,
      nodeName: nodeOf.get(task.id)?.node_name ?? null,
      offline: nodeOf.get(task.id)?.node_status === NodeStatus.OFFLINE,
    }));
  }

  private async start(
    nodeId: string,
    modelId: string,
    reason: ModelLoadError,
    detail: string,
    trigger: RepairTrigger,
    fromZero: boolean,
    delayMs = 0,
  ): Promise<RepairTaskEntity> {
    const registration = await this.registry.getRegistered(modelId);
    const totalBytes = registration.files.reduce((sum, f) => sum + f.size, 0);
    const timeoutMs = repairTimeoutMs(
      totalBytes,
      this.config.REPAIR_TIMEOUT_BASE_MS,
      this.config.REPAIR_MIN_BYTES_PER_SECOND,
    );
    let task: RepairTaskEntity;
    try {
      task = await this.tasks.save(
        this.tasks.create({
          nodeId,
          modelId,
          reason,
          detail,
          trigger,
          status: RepairStatus.IN_PROGRESS,
          fromZero,
          attempts: 0,
          errorMessage: null,
          timeoutMs,
          startedAt: new Date(Date.now() + delayMs),
          finishedAt: null,
        }),
      );
    } catch (err) {
      // Another report won the race: join its repair.
      if (err instanceof QueryFailedError && (err.driverError as { code?: string }).code === '23505') {
        const running = await this.inProgress(nodeId, modelId);
        if (running) return running;
      }
      throw err;
    }
    this.logger.warn(`Repairing ${modelId} on node ${nodeId} (${reason}: ${detail})`);
    await this.dispatch(task, 1, delayMs);
    await this.publish(task);
    return task;
  }

  /** The model's state on the node; refused, naming why, when it was never downloaded there. */
  private async stateOnNode(nodeId: string, modelId: string): Promise<NodeModelStateEntity> {
    const state = await this.states.get(nodeId, modelId);
    if (state) return state;
    await this.registry.getRegistered(modelId);
    throw new RepairError(
      RepairErrorReason.MODEL_NOT_ON_NODE,
      `Model ${modelId} was never downloaded to node ${nodeId}; use downloadModel`,
      { modelId, nodeId },
    );
  }

  private repairing(task: RepairTaskEntity): FailureReportResponse {
    const deadline = new Date(task.startedAt.getTime() + task.timeoutMs);
    return {
      action: 'REPAIRING',
      repairId: task.id,
      reason: `Repairing (${task.reason}): ${task.detail}`,
      retryAfterSeconds: Math.max(1, Math.min(30, Math.ceil(task.timeoutMs / 10_000))),
      deadline: deadline.toISOString(),
    };
  }

  private async inProgress(nodeId: string, modelId: string): Promise<RepairTaskEntity | null> {
    return this.tasks.findOneBy({ nodeId, modelId, status: RepairStatus.IN_PROGRESS });
  }

  /** Failed repairs of the pair since its last successful one: the breaker's count. */
  private async consecutiveFailures(nodeId: string, modelId: string): Promise<number> {
    const rows = await this.tasks.query<Array<{ n: string }>>(
      `SELECT count(*) AS n FROM repair_tasks
        WHERE node_id = $1 AND model_id = $2 AND status = 'FAILED'
          AND started_at > COALESCE((SELECT max(started_at) FROM repair_tasks WHERE node_id = $1 AND model_id = $2 AND status = 'SUCCESS'), '-infinity')`,
      [nodeId, modelId],
    );
    return Number(rows[0]?.n ?? 0);
  }

  private async markError(nodeId: string, modelId: string, code: string, message: string): Promise<void> {
    const state = await this.states.get(nodeId, modelId);
    if (!state) return;
    await this.relay.fromControlPlane({
      nodeId,
      modelId,
      lifecycleStatus: LifecycleStatus.ERROR,
      bytesTotal: state.bytesTotal,
      errorCode: code,
      errorMessage: message,
    });
  }

  private async publish(task: RepairTaskEntity): Promise<void> {
    await this.events.publishSafely(Topic.REPAIR_STATUS_CHANGED, repairPayload(task));
  }
}
