import { InjectQueue } from '@nestjs/bullmq';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Queue } from 'bullmq';
import type { AppConfig } from '../../config/app-config.js';
import { APP_CONFIG } from '../../config/config.tokens.js';
import { randomUUID } from 'node:crypto';
import {
  dispatchBatchJobId,
  downloadJobId,
  JobName,
  QueueName,
  type DispatchDownloadsJob,
  type DownloadModelJob,
} from '../../jobs/job-catalog.js';
import type { NodeModelStateEntity } from '../../nodes/entities/node-model-state.entity.js';
import { LifecycleStatus } from '../../nodes/lifecycle-status.js';
import { Grouped } from '../grouped.js';
import { ModelStateRelay } from '../model-state-relay.service.js';
import { DispatchPhase, DownloadDispatchStore, type DispatchRow } from './download-dispatch.store.js';

export const DOWNLOAD_TIMEOUT = 'DOWNLOAD_TIMEOUT';
export const DOWNLOAD_FAILED = 'DOWNLOAD_FAILED';

/**
 * Nodes per dispatch job when many are asked at once: a rollout to 500 nodes is 10 jobs per model (spread over every
 * replica's workers), each claiming its nodes in one statement and calling their agents DISPATCH_PARALLEL at a time.
 */
export const DISPATCH_BATCH = 50;

/** An agent state as the tracker needs it: the lifecycle, and on ERROR whether a retry may help. */
export interface ObservedState {
  modelId: string;
  lifecycleStatus: LifecycleStatus;
  errorMessage: string | null;
  retryable?: boolean;
}

/**
 * Follows downloads the agents own, without holding a worker: dispatch jobs are short (tell the agent, return); the
 * agent's reports end a download (READY) or fail an attempt (ERROR: retried with backoff while attempts are left and
 * the agent says it may help); a sweep on every replica times out running downloads that passed their size-scaled
 * deadline without progress, and re-enqueues queued ones whose job got lost. Every transition is a conditional write,
 * so the replicas never act twice on one download.
 */
@Injectable()
export class DownloadTracker implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(DownloadTracker.name);
  private timer: NodeJS.Timeout | undefined;
  /** READY reports ending their downloads, written together (one statement per group of agents' reports). */
  private readonly done = new Grouped<{ nodeId: string; modelId: string }>((d) => this.dispatches.markDoneMany(d));

  constructor(
    @InjectQueue(QueueName.DOWNLOADS) private readonly queue: Queue<DownloadModelJob | DispatchDownloadsJob>,
    private readonly dispatches: DownloadDispatchStore,
    private readonly relay: ModelStateRelay,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.sweep(), this.sweepEveryMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  get sweepEveryMs(): number {
    return Math.max(100, Math.min(5000, this.config.DOWNLOAD_STALL_MS / 4));
  }

  /** How long the agent is given for one attempt before silence counts as failure. */
  timeoutMs(bytesTotal: number): number {
    return this.config.DOWNLOAD_TIMEOUT_BASE_MS + (bytesTotal / this.config.DOWNLOAD_MIN_BYTES_PER_SECOND) * 1000;
  }

  backoffMs(attempt: number): number {
    return this.config.DOWNLOAD_BACKOFF_MS * 2 ** Math.max(0, attempt - 1);
  }

  /**
   * Enqueues dispatch jobs for these nodes, in one round trip to Redis: batches of DISPATCH_BATCH nodes when several are
   * due now (a rollout), one job per node otherwise or when `each` (a retry, a node to wait for, a lone node: its
   * deterministic id keeps a second job for the same node × model out of the queue).
   */
  async enqueue(modelId: string, nodeIds: readonly string[], delayMs = 0, each = false): Promise<void> {
    if (nodeIds.length === 0) return;
    const requestedAt = new Date().toISOString();
    const retried = {
      // Reaching the agent is retried by BullMQ; the transfer's own failures by this tracker.
      attempts: this.config.DOWNLOAD_ATTEMPTS,
      backoff: { type: 'exponential', delay: this.config.DOWNLOAD_BACKOFF_MS },
      removeOnComplete: true,
      removeOnFail: true,
    };
    if (!each && delayMs === 0 && nodeIds.length > 1) {
      const batches: Array<{ name: JobName; data: DispatchDownloadsJob; opts: typeof retried & { jobId: string } }> =
        [];
      for (let i = 0; i < nodeIds.length; i += DISPATCH_BATCH) {
        batches.push({
          name: JobName.DISPATCH_DOWNLOADS,
          data: { modelId, nodeIds: nodeIds.slice(i, i + DISPATCH_BATCH), requestedAt },
          opts: { ...retried, jobId: dispatchBatchJobId(modelId, randomUUID()) },
        });
      }
      await this.queue.addBulk(batches);
      return;
    }
    await this.queue.addBulk(
      nodeIds.map((nodeId) => ({
        name: JobName.DOWNLOAD_MODEL,
        data: { nodeId, modelId, requestedAt },
        opts: { ...retried, jobId: downloadJobId(nodeId, modelId), delay: delayMs },
      })),
    );
  }

  /** What agents reported (already written): READY ends a download, ERROR fails its attempt. */
  async observe(nodeId: string, states: readonly ObservedState[]): Promise<void> {
    await this.done.add(
      states.filter((s) => s.lifecycleStatus === LifecycleStatus.READY).map((s) => ({ nodeId, modelId: s.modelId })),
    );
    for (const s of states) {
      if (s.lifecycleStatus !== LifecycleStatus.ERROR) continue;
      const row = await this.dispatches.fail(
        nodeId,
        s.modelId,
        s.retryable ?? true,
        s.errorMessage ?? 'download failed',
        (attempt) => this.backoffMs(attempt),
      );
      if (row) await this.afterFailure(row, s.errorMessage ?? 'download failed', false);
    }
  }

  /** Observes states as written by the relay (entities), for callers that hold those. */
  async observeWritten(nodeId: string, states: readonly NodeModelStateEntity[], retryable?: boolean): Promise<void> {
    await this.observe(
      nodeId,
      states.map((s) => ({
        modelId: s.modelId,
        lifecycleStatus: s.lifecycleStatus,
        errorMessage: s.errorMessage,
        retryable,
      })),
    );
  }

  async sweep(): Promise<void> {
    try {
      for (const row of await this.dispatches.overdue(this.config.DOWNLOAD_STALL_MS)) {
        const why = `No progress from the agent for ${Math.round(this.config.DOWNLOAD_STALL_MS / 1000)} s past the download's deadline (attempt ${row.attempt} of ${row.maxAttempts})`;
        const failed = await this.dispatches.fail(row.nodeId, row.modelId, true, why, (a) => this.backoffMs(a));
        if (failed) await this.afterFailure(failed, why, true);
      }
      const stuck = await this.dispatches.stuckQueued(Math.max(30_000, this.config.JOB_LOCK_MS * 2));
      // Per model: a lost rollout batch comes back as batches (and one Redis round trip), not a job per node.
      const byModel = new Map<string, string[]>();
      for (const row of stuck) byModel.set(row.modelId, [...(byModel.get(row.modelId) ?? []), row.nodeId]);
      for (const [modelId, nodeIds] of byModel) {
        await this.enqueue(modelId, nodeIds);
        await this.dispatches.touchQueued(modelId, nodeIds);
      }
    } catch (err) {
      this.logger.error(`Download sweep failed: ${(err as Error).message}`);
    }
  }

  private async afterFailure(row: DispatchRow, why: string, timedOut: boolean): Promise<void> {
    if (row.phase === DispatchPhase.QUEUED) {
      const delay = this.backoffMs(row.attempt);
      this.logger.warn(`Download of ${row.modelId} to node ${row.nodeId} failed (${why}); retrying in ${delay} ms`);
      await this.enqueue(row.modelId, [row.nodeId], delay);
      return;
    }
    this.logger.warn(`Download of ${row.modelId} to node ${row.nodeId} failed for good: ${why}`);
    // The agent's own ERROR (checksum mismatch, load failure...) is already stored and says more than ours.
    if (timedOut) {
      await this.relay.fromControlPlane({
        nodeId: row.nodeId,
        modelId: row.modelId,
        lifecycleStatus: LifecycleStatus.ERROR,
        bytesTotal: row.bytesTotal,
        errorCode: DOWNLOAD_TIMEOUT,
        errorMessage: why,
      });
    }
  }
}
