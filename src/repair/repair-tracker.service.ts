import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { Grouped } from '../downloads/grouped.js';
import { ModelStateRelay } from '../downloads/model-state-relay.service.js';
import { NodesService } from '../nodes/nodes.service.js';
import type { NodeModelStateEntity } from '../nodes/entities/node-model-state.entity.js';
import { LifecycleStatus } from '../nodes/lifecycle-status.js';
import type { AgentModelState } from '../shared/agent-protocol.js';
import type { RepairTaskEntity } from './entities/repair-task.entity.js';
import { RepairStatus } from './repair-status.js';
import { RepairService } from './repair.service.js';

/** A READY or ERROR an agent reported, with the repair tag of its report. */
interface ObservedEnd {
  nodeId: string;
  state: NodeModelStateEntity;
  tag: AgentModelState['repair'];
}

const pairKey = (nodeId: string, modelId: string): string => `${nodeId}\n${modelId}`;

/** Resuming a truncated file is tried first; if its bytes turn out wrong, once more from zero. */
export const REPAIR_MAX_ATTEMPTS = 2;

/** The fetch's own verdict on wrong bytes (the agent's downloader). */
const CHECKSUM_MISMATCH = 'CHECKSUM_MISMATCH';

export function repairTimedOutMessage(task: RepairTaskEntity): string {
  return `Repair timed out after ${Math.round(task.timeoutMs / 1000)} s`;
}

export function repairDeadline(task: RepairTaskEntity): number {
  return task.startedAt.getTime() + task.timeoutMs;
}

/** Whether the task's current attempt fetches from zero (the first as decided, a second one always). */
export function attemptFromZero(task: RepairTaskEntity, attempt = task.attempts): boolean {
  return task.fromZero || attempt > 1;
}

/**
 * Follows repairs the agents own, without holding a worker: the repair job only tells the agent (RepairProcessor); the
 * agent's reported states end it. READY: SUCCESS. ERROR of the attempt running (the state's repair tag): once more from
 * zero after a checksum mismatch while resuming, otherwise FAILED with the agent's message. A sweep on every replica
 * fails repairs past their deadline and those whose node went OFFLINE. Every end is a conditional write
 * (RepairService.finish), so replicas never end a repair twice.
 */
@Injectable()
export class RepairTracker implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RepairTracker.name);
  private timer: NodeJS.Timeout | undefined;
  private readonly ends = new Grouped<ObservedEnd>((ends) => this.settle(ends));

  constructor(
    private readonly repairs: RepairService,
    relay: ModelStateRelay,
    nodes: NodesService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    relay.observeAgentStates((nodeId, written, reports) => this.observe(nodeId, written, reports));
    nodes.onRejoined((nodeId) => this.resend(nodeId));
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.sweep(), this.sweepEveryMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.ends.idle();
  }

  get sweepEveryMs(): number {
    return Math.max(100, Math.min(5000, Math.floor(this.config.REPAIR_TIMEOUT_BASE_MS / 4)));
  }

  /**
   * Agents' states as written: a READY or ERROR may end a repair in progress of that node × model. Reports that arrive
   * together (the end of a rollout: hundreds of agents' READY at once) share one lookup of the repairs in progress.
   */
  async observe(
    nodeId: string,
    written: readonly NodeModelStateEntity[],
    reports: readonly AgentModelState[],
  ): Promise<void> {
    await this.ends.add(
      written
        .filter((s) => s.lifecycleStatus === LifecycleStatus.READY || s.lifecycleStatus === LifecycleStatus.ERROR)
        .map((state) => ({ nodeId, state, tag: reports.find((r) => r.modelId === state.modelId)?.repair })),
    );
  }

  /** A group of ends, in the order they were written: one query for the repairs they may end, then each in turn. */
  private async settle(ends: readonly ObservedEnd[]): Promise<void> {
    const open = new Map(
      (await this.repairs.inProgressAmong(ends.map((e) => ({ nodeId: e.nodeId, modelId: e.state.modelId })))).map(
        (t) => [pairKey(t.nodeId, t.modelId), t],
      ),
    );
    for (const end of ends) {
      const key = pairKey(end.nodeId, end.state.modelId);
      const task = open.get(key);
      if (!task) continue;
      try {
        if (await this.settleOne(task, end)) open.delete(key);
      } catch (err) {
        this.logger.error(`Repair of ${task.modelId} on node ${task.nodeId}: ${(err as Error).message}`);
      }
    }
  }

  /** Whether this end closed the repair (or found it closed by another replica). */
  private async settleOne(task: RepairTaskEntity, { nodeId, state, tag }: ObservedEnd): Promise<boolean> {
    // READY once the repair was sent: the model is sound again (also when an agent that restarted mid-repair resumed
    // the transfer as a plain download). Before that, READY says nothing about this repair.
    if (state.lifecycleStatus === LifecycleStatus.READY) {
      if (task.attempts < 1) return false;
      if (await this.repairs.finish(task, RepairStatus.SUCCESS, null)) {
        this.logger.log(
          `Repaired ${task.modelId} on node ${nodeId} in ${Date.now() - task.startedAt.getTime()} ms (attempt ${task.attempts})`,
        );
      }
      return true;
    }
    // Only the agent's end of the attempt running ends it: not the verdict that started the repair, an earlier
    // attempt's end, nor the fetch's own ERROR that the agent's end follows.
    if (tag?.repairId !== task.id || tag.attempt !== task.attempts || tag.failed !== true) return false;
    if (tag.timedOut || Date.now() >= repairDeadline(task)) {
      await this.repairs.finish(task, RepairStatus.FAILED, repairTimedOutMessage(task));
      return true;
    }
    if (tag.failureCode === CHECKSUM_MISMATCH && !attemptFromZero(task) && task.attempts < REPAIR_MAX_ATTEMPTS) {
      this.logger.warn(`Repair of ${task.modelId} on node ${nodeId}: wrong bytes after resuming; once more from zero`);
      await this.repairs.dispatch(task, task.attempts + 1);
      return false;
    }
    await this.repairs.finish(task, RepairStatus.FAILED, tag.failureMessage ?? state.errorMessage ?? 'Repair failed');
    return true;
  }

  /**
   * A node that joins again may have lost the repairs it was sent (its agent restarted before a transfer began, so no
   * `.partial` brings it back): each one in progress there is sent again, and an agent still running it joins it.
   */
  private async resend(nodeId: string): Promise<void> {
    for (const task of await this.repairs.sentTo(nodeId)) await this.repairs.dispatch(task, task.attempts);
  }

  /** Repairs past their deadline, or whose node is OFFLINE or gone, end FAILED (as the job that followed them did). */
  async sweep(): Promise<void> {
    try {
      for (const { task, nodeName, offline } of await this.repairs.due()) {
        const why =
          nodeName === null
            ? 'The node no longer exists'
            : offline
              ? `Node ${nodeName} is offline`
              : repairTimedOutMessage(task);
        if (await this.repairs.finish(task, RepairStatus.FAILED, why)) {
          this.logger.warn(`Repair of ${task.modelId} on node ${nodeName ?? task.nodeId} failed: ${why}`);
        }
      }
    } catch (err) {
      this.logger.error(`Repair sweep failed: ${(err as Error).message}`);
    }
  }
}
