import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';

export type TransferSource = 'HUB' | 'PEER';
export type TransferOutcome = 'DONE' | 'FAILED' | 'BAD_BYTES';

/** A node that holds the model READY and may serve it, with the uploads it serves now. */
export interface PeerCandidate {
  id: string;
  name: string;
  url: string;
  uploads: number;
}

export interface FileRef {
  modelId: string;
  path: string;
  sha256: string;
}

/** Where one node × model's bytes came from last (the latest source handed out for one of its files). */
export interface LatestSource {
  nodeId: string;
  modelId: string;
  source: TransferSource;
  sourceNodeId: string | null;
  sourceNodeName: string | null;
}

export interface PeerRefusal {
  nodeId: string;
  modelId: string;
  reason: string;
}

export interface PeerCopyTotals {
  bytesFromHub: number;
  bytesFromPeers: number;
  bytesSavedFromHub: number;
  peerTransfers: number;
  reportedPeers: number;
}

/**
 * The peer_transfers table. An ACTIVE row whose receiver keeps reporting progress is one upload of its source (or one
 * fetch from the Hub); choosing sources for a file runs under a transaction-scoped advisory lock on that file, so two
 * replicas never hand out the same upload slot twice.
 */
@Injectable()
export class PeerTransferStore {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /** Runs `work` holding the file's lock (released with the transaction). */
  async lockedFor<T>(file: FileRef, work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.db.transaction(async (m) => {
      await m.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`peer-copy\n${file.modelId}\n${file.path}`]);
      return work(m);
    });
  }

  /** A receiver asking again for a file ends whatever it was given before for it (it crashed, or gave that up). */
  async supersede(m: EntityManager, receiverId: string, file: FileRef): Promise<void> {
    await m.query(
      `UPDATE peer_transfers SET status = 'FAILED', message = 'superseded by a new request for the file', finished_at = now()
        WHERE target_node_id = $1 AND model_id = $2 AND path = $3 AND status = 'ACTIVE'`,
      [receiverId, file.modelId, file.path],
    );
  }

  /**
   * Nodes other than the receiver that may serve the model: READY (its files sha256-verified there), ONLINE, not being
   * repaired, never reported for bad bytes of it, not excluded by the receiver. Fewest uploads first.
   */
  async candidates(
    m: EntityManager,
    receiverId: string,
    modelId: string,
    exclude: readonly string[],
    freshMs: number,
  ): Promise<PeerCandidate[]> {
    const rows = await m.query<Array<{ id: string; name: string; url: string; uploads: number }>>(
      `SELECT n.id, n.name, n.url,
              (SELECT count(*) FROM peer_transfers t
                 JOIN node_model_states ts ON ts.node_id = t.target_node_id AND ts.model_id = t.model_id
                WHERE t.source_node_id = n.id AND t.status = 'ACTIVE' AND t.expires_at > now()
                  AND ts.updated_at > now() - make_interval(secs => $4::double precision / 1000))::int AS uploads
         FROM node_model_states s JOIN nodes n ON n.id = s.node_id
        WHERE s.model_id = $1 AND s.lifecycle_status = 'READY' AND n.status = 'ONLINE'
          AND n.id <> $2 AND NOT (n.id = ANY($3::uuid[]))
          AND NOT EXISTS (SELECT 1 FROM repair_tasks r
                           WHERE r.node_id = n.id AND r.model_id = $1 AND r.status = 'IN_PROGRESS')
          AND NOT EXISTS (SELECT 1 FROM peer_transfers b
                           WHERE b.source_node_id = n.id AND b.model_id = $1 AND b.status = 'BAD_BYTES')
        ORDER BY uploads, random()`,
      [modelId, receiverId, exclude, freshMs],
    );
    return rows.map((r) => ({ id: r.id, name: r.name, url: r.url, uploads: r.uploads }));
  }

  /**
   * Whether another ONLINE node is fetching this file right now, or just fetched it and is not READY yet (its state
   * moved within `freshMs`): it will serve soon.
   */
  async fetchedElsewhere(m: EntityManager, receiverId: string, file: FileRef, freshMs: number): Promise<boolean> {
    const rows = await m.query<unknown[]>(
      `SELECT 1 FROM peer_transfers t
         JOIN nodes n ON n.id = t.target_node_id
         JOIN node_model_states s ON s.node_id = t.target_node_id AND s.model_id = t.model_id
        WHERE t.model_id = $1 AND t.path = $2 AND t.sha256 = $3 AND t.target_node_id <> $4
          AND (t.status = 'ACTIVE'
               OR (t.status = 'DONE' AND t.finished_at > now() - make_interval(secs => $5::double precision / 1000)))
          AND n.status = 'ONLINE' AND s.lifecycle_status IN ('PENDING', 'DOWNLOADING', 'LOADING')
          AND s.updated_at > now() - make_interval(secs => $5::double precision / 1000)
          AND NOT EXISTS (SELECT 1 FROM peer_transfers b
                           WHERE b.source_node_id = t.target_node_id AND b.model_id = $1 AND b.status = 'BAD_BYTES')
        LIMIT 1`,
      [file.modelId, file.path, file.sha256, receiverId, freshMs],
    );
    return rows.length > 0;
  }

  async open(
    m: EntityManager,
    receiverId: string,
    file: FileRef,
    source: TransferSource,
    sourceNodeId: string | null,
    ttlMs: number,
  ): Promise<{ id: string; expiresAt: Date }> {
    const rows = await m.query<Array<{ id: string; expires_at: Date }>>(
      `INSERT INTO peer_transfers (model_id, path, sha256, target_node_id, source, source_node_id, status, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, 'ACTIVE', now() + make_interval(secs => $7::double precision / 1000))
       RETURNING id, expires_at`,
      [file.modelId, file.path, file.sha256, receiverId, source, sourceNodeId, ttlMs],
    );
    return { id: rows[0]!.id, expiresAt: rows[0]!.expires_at };
  }

  /**
   * The receiver is alive and fetching: its state counts as progress for the download's deadline, and as fresh for
   * the nodes that wait for it (before its own first progress report arrives).
   */
  async touchState(m: EntityManager, nodeId: string, modelId: string): Promise<void> {
    await m.query(`UPDATE node_model_states SET updated_at = now() WHERE node_id = $1 AND model_id = $2`, [
      nodeId,
      modelId,
    ]);
  }

  /** Ends the receiver's transfer; null when it has no such open transfer. */
  async finish(
    receiverId: string,
    transferId: string,
    outcome: TransferOutcome,
    bytes: number,
    message: string | null,
  ): Promise<{ modelId: string; path: string; sourceNodeId: string | null } | null> {
    const rows = await this.db.query<Array<{ model_id: string; path: string; source_node_id: string | null }>>(
      `WITH u AS (
         UPDATE peer_transfers SET status = $3, bytes = $4, message = $5, finished_at = now()
          WHERE id = $1 AND target_node_id = $2 AND status IN ('ACTIVE', 'FAILED')
          RETURNING model_id, path, source_node_id
       ) SELECT * FROM u`,
      [transferId, receiverId, outcome, bytes, message],
    );
    const row = rows[0];
    return row ? { modelId: row.model_id, path: row.path, sourceNodeId: row.source_node_id } : null;
  }

  async latestSources(keys: ReadonlyArray<{ nodeId: string; modelId: string }>): Promise<LatestSource[]> {
    if (keys.length === 0) return [];
    const rows = await this.db.query<
      Array<{
        target_node_id: string;
        model_id: string;
        source: TransferSource;
        source_node_id: string | null;
        name: string | null;
      }>
    >(
      `SELECT DISTINCT ON (t.target_node_id, t.model_id) t.target_node_id, t.model_id, t.source, t.source_node_id, n.name
         FROM peer_transfers t
         JOIN unnest($1::uuid[], $2::varchar[]) AS k(node_id, model_id) ON k.node_id = t.target_node_id AND k.model_id = t.model_id
         LEFT JOIN nodes n ON n.id = t.source_node_id
        ORDER BY t.target_node_id, t.model_id, t.created_at DESC`,
      [keys.map((k) => k.nodeId), keys.map((k) => k.modelId)],
    );
    return rows.map((r) => ({
      nodeId: r.target_node_id,
      modelId: r.model_id,
      source: r.source,
      sourceNodeId: r.source_node_id,
      sourceNodeName: r.name,
    }));
  }

  /** Why these node × models are never chosen as sources (they served bytes that failed the receiver's sha256). */
  async refusals(keys: ReadonlyArray<{ nodeId: string; modelId: string }>): Promise<PeerRefusal[]> {
    if (keys.length === 0) return [];
    const rows = await this.db.query<
      Array<{ source_node_id: string; model_id: string; path: string; receiver: string | null; finished_at: Date }>
    >(
      `SELECT DISTINCT ON (t.source_node_id, t.model_id) t.source_node_id, t.model_id, t.path, n.name AS receiver, t.finished_at
         FROM peer_transfers t
         JOIN unnest($1::uuid[], $2::varchar[]) AS k(node_id, model_id) ON k.node_id = t.source_node_id AND k.model_id = t.model_id
         LEFT JOIN nodes n ON n.id = t.target_node_id
        WHERE t.status = 'BAD_BYTES'
        ORDER BY t.source_node_id, t.model_id, t.finished_at DESC`,
      [keys.map((k) => k.nodeId), keys.map((k) => k.modelId)],
    );
    return rows.map((r) => ({
      nodeId: r.source_node_id,
      modelId: r.model_id,
      reason: `served bytes of ${r.path} that failed the sha256 check on node ${r.receiver ?? '(removed)'} at ${new Date(r.finished_at).toISOString()}; not chosen as a peer-copy source for this model again`,
    }));
  }

  async totals(): Promise<PeerCopyTotals> {
    const rows = await this.db.query<
      Array<{ hub: string; peers: string; saved: string; transfers: string; reported: string }>
    >(
      `SELECT coalesce(sum(bytes) FILTER (WHERE source = 'HUB'), 0) AS hub,
              coalesce(sum(bytes) FILTER (WHERE source = 'PEER'), 0) AS peers,
              coalesce(sum(bytes) FILTER (WHERE source = 'PEER' AND status <> 'BAD_BYTES'), 0) AS saved,
              count(*) FILTER (WHERE source = 'PEER' AND status = 'DONE') AS transfers,
              count(DISTINCT source_node_id) FILTER (WHERE status = 'BAD_BYTES') AS reported
         FROM peer_transfers`,
    );
    const r = rows[0]!;
    return {
      bytesFromHub: Number(r.hub),
      bytesFromPeers: Number(r.peers),
      bytesSavedFromHub: Number(r.saved),
      peerTransfers: Number(r.transfers),
      reportedPeers: Number(r.reported),
    };
  }
}
