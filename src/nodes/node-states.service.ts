import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import type { AgentModelState } from '../shared/agent-protocol.js';
import { NodeModelStateEntity } from './entities/node-model-state.entity.js';
import { LifecycleStatus } from './lifecycle-status.js';

interface RawState {
  node_id: string;
  model_id: string;
  lifecycle_status: LifecycleStatus;
  bytes_done: string;
  bytes_total: string;
  file_path: string | null;
  error_code: string | null;
  error_message: string | null;
  version: string;
  /** A Date, or epoch milliseconds where the read asks for them (READ_COLUMNS: no timestamp parsing per row). */
  updated_at: Date | number;
  revision: string;
  bytes_per_second: number | null;
}

/** Time constant of the transfer-rate smoothing: the rate follows a change of speed within a few seconds. */
const RATE_SMOOTHING_SECONDS = 5;

/**
 * The smoothed rate after a report, computed in the write from the stored row (bytes and time of the previous report):
 * an exponential moving average weighted by the time between reports, so frequent reports do not make it jumpy and a
 * burst of them counts no more than the seconds they span. Null outside DOWNLOADING, and from a restart of the count.
 */
const SMOOTHED_RATE = `CASE
  WHEN EXCLUDED.lifecycle_status <> 'DOWNLOADING' OR node_model_states.lifecycle_status <> 'DOWNLOADING'
       OR EXCLUDED.bytes_done < node_model_states.bytes_done THEN NULL
  ELSE (SELECT CASE
          WHEN r.dt <= 0 THEN node_model_states.bytes_per_second
          WHEN node_model_states.bytes_per_second IS NULL THEN r.instant
          ELSE node_model_states.bytes_per_second
               + (1 - exp(-r.dt / ${RATE_SMOOTHING_SECONDS})) * (r.instant - node_model_states.bytes_per_second)
        END
          FROM (SELECT d.dt, CASE WHEN d.dt > 0 THEN (EXCLUDED.bytes_done - node_model_states.bytes_done) / d.dt END AS instant
                  FROM (SELECT extract(epoch FROM now() - node_model_states.updated_at)::float8 AS dt) d) r)
END`;

const COLUMNS =
  'node_id, model_id, lifecycle_status, bytes_done, bytes_total, file_path, error_code, error_message, version, updated_at, revision, bytes_per_second';

/** COLUMNS for reads of many rows: updated_at as epoch milliseconds (a number, not a timestamp string to parse). */
const READ_COLUMNS =
  'node_id, model_id, lifecycle_status, bytes_done, bytes_total, file_path, error_code, error_message, version, ' +
  'floor(extract(epoch FROM updated_at) * 1000)::float8 AS updated_at, revision, bytes_per_second';

function fromRow(r: RawState): NodeModelStateEntity {
  return Object.assign(new NodeModelStateEntity(), {
    nodeId: r.node_id,
    modelId: r.model_id,
    lifecycleStatus: r.lifecycle_status,
    bytesDone: Number(r.bytes_done),
    bytesTotal: Number(r.bytes_total),
    filePath: r.file_path,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    version: Number(r.version),
    updatedAt: typeof r.updated_at === 'number' ? new Date(r.updated_at) : r.updated_at,
    revision: Number(r.revision),
    bytesPerSecond: r.bytes_per_second,
  });
}

/** A state as byModels/byNodes read it: the columns of PACKED_COLUMNS, in that order, as JSON values. */
type PackedState = [
  nodeId: string,
  modelId: string,
  lifecycleStatus: LifecycleStatus,
  bytesDone: number,
  bytesTotal: number,
  filePath: string | null,
  errorCode: string | null,
  errorMessage: string | null,
  version: number,
  updatedAtMs: number,
  revision: number,
  bytesPerSecond: number | null,
];

const PACKED_COLUMNS =
  'node_id, model_id, lifecycle_status, bytes_done, bytes_total, file_path, error_code, error_message, version, ' +
  'floor(extract(epoch FROM updated_at) * 1000)::float8, revision, bytes_per_second';

function fromPacked(p: PackedState): NodeModelStateEntity {
  return Object.assign(new NodeModelStateEntity(), {
    nodeId: p[0],
    modelId: p[1],
    lifecycleStatus: p[2],
    bytesDone: p[3],
    bytesTotal: p[4],
    filePath: p[5],
    errorCode: p[6],
    errorMessage: p[7],
    version: p[8],
    updatedAt: new Date(p[9]),
    revision: p[10],
    bytesPerSecond: p[11],
  });
}

export interface AppliedState {
  state: NodeModelStateEntity;
  /** The lifecycle before this write; null when the row is new. */
  previous: LifecycleStatus | null;
}

export interface ControlPlaneStateUpdate {
  nodeId: string;
  modelId: string;
  lifecycleStatus: LifecycleStatus;
  bytesTotal: number;
  errorCode?: string | null;
  errorMessage?: string | null;
}

/** Per node × model state. Agents' reports are ordered by their version; the control plane's own writes are not. */
@Injectable()
export class NodeStatesService {
  constructor(@InjectRepository(NodeModelStateEntity) private readonly states: Repository<NodeModelStateEntity>) {}

  /** Every state of these models, by model then node: raw rows (no entity hydration: a page can hold 50,000). */
  async forModels(modelIds: readonly string[]): Promise<NodeModelStateEntity[]> {
    if (modelIds.length === 0) return [];
    const rows = await this.states.query<RawState[]>(
      `SELECT ${READ_COLUMNS} FROM node_model_states WHERE model_id = ANY($1::varchar[]) ORDER BY model_id, node_id`,
      [[...modelIds]],
    );
    return rows.map(fromRow);
  }

  /** Every state on these nodes, by node then model: raw rows, as forModels. */
  async forNodes(nodeIds: readonly string[]): Promise<NodeModelStateEntity[]> {
    if (nodeIds.length === 0) return [];
    const rows = await this.states.query<RawState[]>(
      `SELECT ${READ_COLUMNS} FROM node_model_states WHERE node_id = ANY($1::uuid[]) ORDER BY node_id, model_id`,
      [[...nodeIds]],
    );
    return rows.map(fromRow);
  }

  /**
   * Every state of these models, grouped by model (an entry for each id, states in node order): for list reads. Each
   * model's states come as one JSON array built by Postgres, so a row costs one JSON.parse share instead of a dozen
   * column parsers (a page can hold 50,000 states).
   */
  async byModels(modelIds: readonly string[]): Promise<Map<string, NodeModelStateEntity[]>> {
    return this.grouped('model_id', 'node_id', 'varchar', modelIds);
  }

  /** Every state on these nodes, grouped by node (an entry for each id, states in model order), as byModels. */
  async byNodes(nodeIds: readonly string[]): Promise<Map<string, NodeModelStateEntity[]>> {
    return this.grouped('node_id', 'model_id', 'uuid', nodeIds);
  }

  private async grouped(
    key: 'model_id' | 'node_id',
    order: 'model_id' | 'node_id',
    type: 'varchar' | 'uuid',
    ids: readonly string[],
  ): Promise<Map<string, NodeModelStateEntity[]>> {
    const groups = new Map<string, NodeModelStateEntity[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return groups;
    const rows = await this.states.query<Array<{ key: string; states: PackedState[] }>>(
      `SELECT ${key} AS key, json_agg(json_build_array(${PACKED_COLUMNS}) ORDER BY ${order}) AS states
         FROM node_model_states WHERE ${key} = ANY($1::${type}[]) GROUP BY ${key}`,
      [[...ids]],
    );
    for (const row of rows) groups.set(row.key, row.states.map(fromPacked));
    return groups;
  }

  async get(nodeId: string, modelId: string): Promise<NodeModelStateEntity | null> {
    return this.states.findOneBy({ nodeId, modelId });
  }

  /**
   * Applies an agent's reports in one statement: each is written only if newer than what is stored (its version) and
   * about a registered model (agents may hold files of models unregistered since). Returns the rows written, each
   * with the lifecycle it had before; a heartbeat that changes nothing writes nothing.
   */
  async applyAgentStates(nodeId: string, reports: readonly AgentModelState[]): Promise<AppliedState[]> {
    return (await this.writeAgentStates(nodeId, reports, null))!;
  }

  /**
   * As applyAgentStates, for the node that holds this token (its hash): the check and the write are one statement
   * (an agent's state push costs one round trip). Null, and nothing written, when the node has no such token.
   */
  async applyAgentStatesAs(
    nodeId: string,
    tokenHash: string,
    reports: readonly AgentModelState[],
  ): Promise<AppliedState[] | null> {
    return this.writeAgentStates(nodeId, reports, tokenHash);
  }

  private async writeAgentStates(
    nodeId: string,
    reports: readonly AgentModelState[],
    tokenHash: string | null,
  ): Promise<AppliedState[] | null> {
    if (reports.length === 0 && tokenHash === null) return [];
    const column = <K extends keyof AgentModelState>(key: K) => reports.map((r) => r[key]);
    const rows = await this.states.query<
      Array<Partial<RawState> & { previous_status: LifecycleStatus | null; authenticated: boolean }>
    >(
      `WITH input AS (
         SELECT * FROM unnest($2::varchar[], $3::varchar[], $4::bigint[], $5::bigint[], $6::text[], $7::varchar[], $8::text[], $9::bigint[])
           AS t(model_id, lifecycle_status, bytes_done, bytes_total, file_path, error_code, error_message, version)
       ),
       node AS (
         SELECT id FROM nodes WHERE id = $1 AND ($10::text IS NULL OR token_hash = $10::text)
       ),
       previous AS (
         SELECT s.model_id, s.lifecycle_status FROM node_model_states s JOIN input i ON s.model_id = i.model_id WHERE s.node_id = $1
       ),
       written AS (
         INSERT INTO node_model_states
           (node_id, model_id, lifecycle_status, bytes_done, bytes_total, file_path, error_code, error_message, version, updated_at)
         SELECT $1, i.model_id, i.lifecycle_status, i.bytes_done, i.bytes_total, i.file_path, i.error_code, i.error_message, i.version, now()
           FROM input i JOIN registered_models r ON r.id = i.model_id
          WHERE $10::text IS NULL OR EXISTS (SELECT 1 FROM node)
         ON CONFLICT (node_id, model_id) DO UPDATE SET
           lifecycle_status = EXCLUDED.lifecycle_status, bytes_done = EXCLUDED.bytes_done, bytes_total = EXCLUDED.bytes_total,
           file_path = EXCLUDED.file_path, error_code = EXCLUDED.error_code, error_message = EXCLUDED.error_message,
           version = EXCLUDED.version, bytes_per_second = ${SMOOTHED_RATE}, updated_at = now()
         WHERE node_model_states.version < EXCLUDED.version
         RETURNING node_id, model_id, lifecycle_status, bytes_done, bytes_total, file_path, error_code, error_message, version, updated_at, revision, bytes_per_second
       )
       SELECT EXISTS (SELECT 1 FROM node) AS authenticated, w.*, p.lifecycle_status AS previous_status
         FROM (SELECT 1) AS one
         LEFT JOIN (written w LEFT JOIN previous p ON p.model_id = w.model_id) ON true`,
      [
        nodeId,
        column('modelId'),
        column('lifecycleStatus'),
        column('bytesDone'),
        column('bytesTotal'),
        column('filePath'),
        column('errorCode'),
        column('errorMessage'),
        column('version'),
        tokenHash,
      ],
    );
    if (tokenHash !== null && !rows[0]?.authenticated) return null;
    return rows
      .filter((r) => r.node_id != null)
      .map((r) => ({ state: fromRow(r as RawState), previous: r.previous_status }));
  }

  /**
   * A download request to many nodes in one statement: a refusal (its reason given) becomes ERROR, every other node goes
   * PENDING unless it already holds the model or is on its way (READY, DOWNLOADING, LOADING: left as they are). Bytes
   * already done are kept, so a cancelled download shows where its resume starts. Returns the rows written.
   */
  async requestDownloads(
    modelId: string,
    targets: ReadonlyArray<{ nodeId: string; refusal: string | null }>,
    bytesTotal: number,
    refusalCode: string,
  ): Promise<AppliedState[]> {
    if (targets.length === 0) return [];
    const rows = await this.states.query<Array<RawState & { previous_status: LifecycleStatus | null }>>(
      `WITH input AS (
         SELECT * FROM unnest($2::uuid[], $3::text[]) AS t(node_id, refusal)
       ),
       previous AS (
         SELECT s.node_id, s.lifecycle_status FROM node_model_states s JOIN input i ON s.node_id = i.node_id
          WHERE s.model_id = $1
       ),
       written AS (
         INSERT INTO node_model_states
           (node_id, model_id, lifecycle_status, bytes_done, bytes_total, error_code, error_message, version, updated_at)
         SELECT i.node_id, $1, CASE WHEN i.refusal IS NULL THEN 'PENDING' ELSE 'ERROR' END, 0, $4,
                CASE WHEN i.refusal IS NULL THEN NULL ELSE $5 END, i.refusal, 0, now()
           FROM input i
         ON CONFLICT (node_id, model_id) DO UPDATE SET
           lifecycle_status = EXCLUDED.lifecycle_status, bytes_total = EXCLUDED.bytes_total,
           error_code = EXCLUDED.error_code, error_message = EXCLUDED.error_message, updated_at = now()
         WHERE EXCLUDED.lifecycle_status = 'ERROR'
            OR node_model_states.lifecycle_status NOT IN ('READY', 'DOWNLOADING', 'LOADING')
         RETURNING node_id, model_id, lifecycle_status, bytes_done, bytes_total, file_path, error_code, error_message, version, updated_at
       )
       SELECT w.*, p.lifecycle_status AS previous_status FROM written w LEFT JOIN previous p ON p.node_id = w.node_id`,
      [modelId, targets.map((t) => t.nodeId), targets.map((t) => t.refusal), bytesTotal, refusalCode],
    );
    return rows.map((r) => ({ state: fromRow(r), previous: r.previous_status }));
  }

  /** These nodes' states of one model, as raw rows. */
  async ofModelOnNodes(modelId: string, nodeIds: readonly string[]): Promise<NodeModelStateEntity[]> {
    if (nodeIds.length === 0) return [];
    const rows = await this.states.query<RawState[]>(
      `SELECT ${COLUMNS} FROM node_model_states WHERE model_id = $1 AND node_id = ANY($2::uuid[])`,
      [modelId, nodeIds],
    );
    return rows.map(fromRow);
  }

  /** Marks these nodes' downloads of the model CANCELLED (only those pending or downloading); returns the rows written. */
  async cancel(modelId: string, nodeIds: readonly string[]): Promise<AppliedState[]> {
    if (nodeIds.length === 0) return [];
    const rows = await this.states.query<RawState[]>(
      `WITH u AS (
         UPDATE node_model_states SET lifecycle_status = 'CANCELLED', error_code = NULL, error_message = NULL, updated_at = now()
          WHERE model_id = $1 AND node_id = ANY($2::uuid[]) AND lifecycle_status IN ('PENDING', 'DOWNLOADING')
          RETURNING ${COLUMNS}
       ) SELECT * FROM u`,
      [modelId, nodeIds],
    );
    return rows.map((r) => ({ state: fromRow(r), previous: null }));
  }

  /** The control plane's own decision (queued, refused, given up): written whatever the agent said last. */
  async setByControlPlane(u: ControlPlaneStateUpdate): Promise<NodeModelStateEntity> {
    await this.states.query(
      `INSERT INTO node_model_states
         (node_id, model_id, lifecycle_status, bytes_done, bytes_total, error_code, error_message, version, updated_at)
       VALUES ($1, $2, $3, 0, $4, $5, $6, 0, now())
       ON CONFLICT (node_id, model_id) DO UPDATE SET
         lifecycle_status = EXCLUDED.lifecycle_status, bytes_total = EXCLUDED.bytes_total,
         error_code = EXCLUDED.error_code, error_message = EXCLUDED.error_message, bytes_per_second = NULL,
         updated_at = now()`,
      [u.nodeId, u.modelId, u.lifecycleStatus, u.bytesTotal, u.errorCode ?? null, u.errorMessage ?? null],
    );
    return (await this.get(u.nodeId, u.modelId))!;
  }

  async remove(nodeId: string, modelId: string): Promise<void> {
    await this.states.delete({ nodeId, modelId });
  }
}
