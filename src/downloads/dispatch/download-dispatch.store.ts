import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { NodeEntity } from '../../nodes/entities/node.entity.js';
import type { NodeStatus } from '../../nodes/node-status.js';

/**
 * Where the control plane stands with one node × model download, apart from what the agent reports:
 * QUEUED (a dispatch job is due), RUNNING (the agent was told; it owns the transfer until READY or ERROR, or until the
 * deadline passes without progress), then DONE, FAILED or CANCELLED.
 */
export enum DispatchPhase {
  QUEUED = 'QUEUED',
  RUNNING = 'RUNNING',
  DONE = 'DONE',
  FAILED = 'FAILED',
  CANCELLED = 'CANCELLED',
}

export interface DispatchRow {
  nodeId: string;
  modelId: string;
  phase: DispatchPhase;
  attempt: number;
  maxAttempts: number;
  bytesTotal: number;
  requestedAt: Date;
}

interface RawDispatch {
  node_id: string;
  model_id: string;
  phase: DispatchPhase;
  attempt: number;
  max_attempts: number;
  bytes_total: string;
  requested_at: Date;
}

const fromRow = (r: RawDispatch): DispatchRow => ({
  nodeId: r.node_id,
  modelId: r.model_id,
  phase: r.phase,
  attempt: r.attempt,
  maxAttempts: r.max_attempts,
  bytesTotal: Number(r.bytes_total),
  requestedAt: r.requested_at,
});

interface RawClaimedNode {
  id: string;
  name: string;
  url: string;
  status: NodeStatus;
  control_token_sealed: string;
}

const COLUMNS = 'node_id, model_id, phase, attempt, max_attempts, bytes_total, requested_at';

/**
 * Every transition is one conditional UPDATE, so two replicas that race for the same row cannot both win. (An UPDATE
 * whose rows are wanted is wrapped in a CTE: TypeORM answers a bare UPDATE with [rows, count].)
 */
@Injectable()
export class DownloadDispatchStore {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async get(nodeId: string, modelId: string): Promise<DispatchRow | null> {
    const rows = await this.db.query<RawDispatch[]>(
      `SELECT ${COLUMNS} FROM download_dispatches WHERE node_id = $1 AND model_id = $2`,
      [nodeId, modelId],
    );
    return rows[0] ? fromRow(rows[0]) : null;
  }

  /**
   * Queues these nodes for the model, in one statement; a node whose download is already queued or running is left as
   * it is (it joins that one). Returns the nodes newly queued, which need a dispatch job.
   */
  async queue(modelId: string, nodeIds: readonly string[], bytesTotal: number, maxAttempts: number): Promise<string[]> {
    if (nodeIds.length === 0) return [];
    const rows = await this.db.query<Array<{ node_id: string }>>(
      `INSERT INTO download_dispatches (node_id, model_id, phase, attempt, max_attempts, bytes_total, requested_at, next_at)
       SELECT n, $2, 'QUEUED', 0, $3, $4, now(), now() FROM unnest($1::uuid[]) AS n
       ON CONFLICT (node_id, model_id) DO UPDATE SET
         phase = 'QUEUED', attempt = 0, max_attempts = EXCLUDED.max_attempts, bytes_total = EXCLUDED.bytes_total,
         requested_at = now(), next_at = now(), deadline_at = NULL, last_error = NULL
       WHERE download_dispatches.phase NOT IN ('QUEUED', 'RUNNING')
       RETURNING node_id`,
      [nodeIds, modelId, maxAttempts, bytesTotal],
    );
    return rows.map((r) => r.node_id);
  }

  /** The agent accepted the download: one attempt spent, and a deadline scaled with the model's size. */
  async markRunning(nodeId: string, modelId: string, timeoutMs: number): Promise<boolean> {
    const rows = await this.db.query<unknown[]>(
      `WITH u AS (
         UPDATE download_dispatches SET phase = 'RUNNING', attempt = attempt + 1,
           deadline_at = now() + make_interval(secs => $3::double precision / 1000), next_at = now()
         WHERE node_id = $1 AND model_id = $2 AND phase = 'QUEUED' RETURNING 1
       ) SELECT * FROM u`,
      [nodeId, modelId, timeoutMs],
    );
    return rows.length > 0;
  }

  /**
   * A batch's claim, in one statement: these nodes' queued downloads of the model go RUNNING (as markRunning), for the
   * nodes that exist and are not OFFLINE. Returns those nodes (what an agent call needs: raw columns, no hydration of
   * metrics or capacity); the others stay QUEUED (see queuedOf) or were not queued at all.
   */
  async claimMany(modelId: string, nodeIds: readonly string[], timeoutMs: number): Promise<NodeEntity[]> {
    if (nodeIds.length === 0) return [];
    const rows = await this.db.query<RawClaimedNode[]>(
      `WITH u AS (
         UPDATE download_dispatches d SET phase = 'RUNNING', attempt = d.attempt + 1,
           deadline_at = now() + make_interval(secs => $3::double precision / 1000), next_at = now()
           FROM nodes n
          WHERE n.id = d.node_id AND n.status <> 'OFFLINE'
            AND d.model_id = $1 AND d.node_id = ANY($2::uuid[]) AND d.phase = 'QUEUED'
          RETURNING n.id, n.name, n.url, n.status, n.control_token_sealed
       ) SELECT * FROM u`,
      [modelId, nodeIds, timeoutMs],
    );
    return rows.map((r) =>
      Object.assign(new NodeEntity(), {
        id: r.id,
        name: r.name,
        url: r.url,
        status: r.status,
        controlTokenSealed: r.control_token_sealed,
      }),
    );
  }

  /** Which of these nodes' downloads of the model are still queued. */
  async queuedOf(modelId: string, nodeIds: readonly string[]): Promise<string[]> {
    if (nodeIds.length === 0) return [];
    const rows = await this.db.query<Array<{ node_id: string }>>(
      `SELECT node_id FROM download_dispatches WHERE model_id = $1 AND node_id = ANY($2::uuid[]) AND phase = 'QUEUED'`,
      [modelId, nodeIds],
    );
    return rows.map((r) => r.node_id);
  }

  /** As unmarkRunning, for many nodes of one model at once (a batch's agents that could not be told). */
  async unmarkRunningMany(modelId: string, nodeIds: readonly string[]): Promise<void> {
    if (nodeIds.length === 0) return;
    await this.db.query(
      `UPDATE download_dispatches SET phase = 'QUEUED', attempt = attempt - 1, deadline_at = NULL, next_at = now()
       WHERE model_id = $1 AND node_id = ANY($2::uuid[]) AND phase = 'RUNNING'`,
      [modelId, nodeIds],
    );
  }

  /** The agent could not be told after all: the attempt is given back (BullMQ retries the dispatch). */
  async unmarkRunning(nodeId: string, modelId: string): Promise<void> {
    await this.db.query(
      `UPDATE download_dispatches SET phase = 'QUEUED', attempt = attempt - 1, deadline_at = NULL, next_at = now()
       WHERE node_id = $1 AND model_id = $2 AND phase = 'RUNNING'`,
      [nodeId, modelId],
    );
  }

  /** The agent reported READY: nothing more to track. */
  async markDone(nodeId: string, modelIds: readonly string[]): Promise<void> {
    if (modelIds.length === 0) return;
    await this.db.query(
      `UPDATE download_dispatches SET phase = 'DONE', deadline_at = NULL
       WHERE node_id = $1 AND model_id = ANY($2::varchar[]) AND phase IN ('QUEUED', 'RUNNING')`,
      [nodeId, modelIds],
    );
  }

  /** As markDone, for many nodes × models at once (the READY reports of a group of agents). */
  async markDoneMany(done: ReadonlyArray<{ nodeId: string; modelId: string }>): Promise<void> {
    if (done.length === 0) return;
    // In key order, so two replicas' statements never wait on each other's rows crosswise.
    const sorted = [...done].sort((a, b) =>
      a.nodeId === b.nodeId ? (a.modelId < b.modelId ? -1 : 1) : a.nodeId < b.nodeId ? -1 : 1,
    );
    await this.db.query(
      `UPDATE download_dispatches d SET phase = 'DONE', deadline_at = NULL
         FROM unnest($1::uuid[], $2::varchar[]) AS t(node_id, model_id)
        WHERE d.node_id = t.node_id AND d.model_id = t.model_id AND d.phase IN ('QUEUED', 'RUNNING')`,
      [sorted.map((d) => d.nodeId), sorted.map((d) => d.modelId)],
    );
  }

  /**
   * A running download failed (the agent's report, or its deadline): queued again after `delayMs` while attempts are
   * left and it may succeed, FAILED otherwise. Returns the new phase and attempt, or null when it was not running.
   */
  async fail(
    nodeId: string,
    modelId: string,
    retryable: boolean,
    error: string,
    delayMs: (attempt: number) => number,
  ): Promise<DispatchRow | null> {
    const current = await this.get(nodeId, modelId);
    if (!current || current.phase !== DispatchPhase.RUNNING) return null;
    const retry = retryable && current.attempt < current.maxAttempts;
    const rows = await this.db.query<RawDispatch[]>(
      `WITH u AS (
         UPDATE download_dispatches SET phase = $3, last_error = $4, deadline_at = NULL,
           next_at = now() + make_interval(secs => $5::double precision / 1000)
         WHERE node_id = $1 AND model_id = $2 AND phase = 'RUNNING' AND attempt = $6
         RETURNING ${COLUMNS}
       ) SELECT * FROM u`,
      [
        nodeId,
        modelId,
        retry ? DispatchPhase.QUEUED : DispatchPhase.FAILED,
        error,
        retry ? delayMs(current.attempt) : 0,
        current.attempt,
      ],
    );
    return rows[0] ? fromRow(rows[0]) : null;
  }

  /** Gives up without an attempt (the node stayed offline, the agent could not be reached): FAILED. */
  async giveUp(nodeId: string, modelId: string, error: string): Promise<boolean> {
    const rows = await this.db.query<unknown[]>(
      `WITH u AS (
         UPDATE download_dispatches SET phase = 'FAILED', last_error = $3, deadline_at = NULL
         WHERE node_id = $1 AND model_id = $2 AND phase IN ('QUEUED', 'RUNNING') RETURNING 1
       ) SELECT * FROM u`,
      [nodeId, modelId, error],
    );
    return rows.length > 0;
  }

  async cancel(modelId: string, nodeIds: readonly string[]): Promise<void> {
    await this.db.query(
      `UPDATE download_dispatches SET phase = 'CANCELLED', deadline_at = NULL
       WHERE model_id = $1 AND node_id = ANY($2::uuid[]) AND phase IN ('QUEUED', 'RUNNING')`,
      [modelId, nodeIds],
    );
  }

  /**
   * Running downloads past their deadline whose node × model state has not moved for `stallMs` either: progress
   * extends the size-scaled deadline, silence does not. A model LOADING is past the transfer: the agent's probe has its
   * own timeout and reports READY or ERROR.
   */
  async overdue(stallMs: number, limit = 500): Promise<DispatchRow[]> {
    const rows = await this.db.query<RawDispatch[]>(
      `SELECT ${COLUMNS.split(', ')
        .map((c) => `d.${c}`)
        .join(', ')}
         FROM download_dispatches d
         LEFT JOIN node_model_states s ON s.node_id = d.node_id AND s.model_id = d.model_id
        WHERE d.phase = 'RUNNING' AND d.deadline_at < now()
          AND (s.updated_at IS NULL OR s.updated_at < now() - make_interval(secs => $1::double precision / 1000))
          AND s.lifecycle_status IS DISTINCT FROM 'LOADING'
        LIMIT $2`,
      [stallMs, limit],
    );
    return rows.map(fromRow);
  }

  /** Queued downloads due for longer than `graceMs` (their job was lost or never added): to be enqueued again. */
  async stuckQueued(graceMs: number, limit = 1000): Promise<DispatchRow[]> {
    const rows = await this.db.query<RawDispatch[]>(
      `SELECT ${COLUMNS} FROM download_dispatches
        WHERE phase = 'QUEUED' AND next_at < now() - make_interval(secs => $1::double precision / 1000)
        LIMIT $2`,
      [graceMs, limit],
    );
    return rows.map(fromRow);
  }

  /** Pushes queued rows' due time forward (their jobs were enqueued again), so the next sweep leaves them alone. */
  async touchQueued(modelId: string, nodeIds: readonly string[]): Promise<void> {
    await this.db.query(
      `UPDATE download_dispatches SET next_at = now() WHERE model_id = $1 AND node_id = ANY($2::uuid[]) AND phase = 'QUEUED'`,
      [modelId, nodeIds],
    );
  }

  /** Downloads the control plane is tracking now (queued or running), for /metrics. */
  async inFlight(): Promise<{ queued: number; running: number }> {
    const rows = await this.db.query<Array<{ phase: string; n: string }>>(
      `SELECT phase, count(*) AS n FROM download_dispatches WHERE phase IN ('QUEUED', 'RUNNING') GROUP BY phase`,
    );
    const of = (p: string) => Number(rows.find((r) => r.phase === p)?.n ?? 0);
    return { queued: of('QUEUED'), running: of('RUNNING') };
  }
}
