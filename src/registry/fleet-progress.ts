import type { EntityManager } from 'typeorm';
import type { FleetProgressPayload } from '../events/topics.js';

/** Where a model's rollout stands across the fleet, from its maintained stripes (a few rows whatever the fleet size). */
export type FleetProgress = FleetProgressPayload;

interface Row {
  id: string;
  nodes: number;
  pending: number;
  downloading: number;
  in_flight: number;
  ready: number;
  failed: number;
  cancelled: number;
  done: number;
  total: number;
  ready_bytes: number;
  rate: number;
}

/**
 * The progress of these registered models (all of them when `ids` is null), in id order; unregistered ids are left
 * out. One statement over the stripes: 16 rows per model.
 */
export async function readFleetProgress(db: EntityManager, ids: readonly string[] | null): Promise<FleetProgress[]> {
  const rows = await db.query<Row[]>(
    `SELECT k.id,
            coalesce(sum(s.nodes), 0)::int AS nodes, coalesce(sum(s.pending), 0)::int AS pending,
            coalesce(sum(s.downloading), 0)::int AS downloading, coalesce(sum(s.in_flight), 0)::int AS in_flight,
            coalesce(sum(s.ready), 0)::int AS ready, coalesce(sum(s.failed), 0)::int AS failed,
            coalesce(sum(s.cancelled), 0)::int AS cancelled,
            coalesce(sum(s.in_flight_bytes_done), 0)::float8 AS done,
            coalesce(sum(s.in_flight_bytes_total), 0)::float8 AS total,
            coalesce(sum(s.ready_bytes), 0)::float8 AS ready_bytes,
            coalesce(sum(s.bytes_per_second), 0)::float8 AS rate
       FROM registered_models k
       LEFT JOIN model_fleet_stripes s ON s.model_id = k.id
      WHERE $1::varchar[] IS NULL OR k.id = ANY($1::varchar[])
      GROUP BY k.id
      ORDER BY k.id COLLATE "C"`,
    [ids === null ? null : [...ids]],
  );
  return rows.map((r) => ({
    modelId: r.id,
    nodesTotal: r.nodes,
    pending: r.pending,
    downloading: r.downloading,
    loading: Math.max(0, r.in_flight - r.pending - r.downloading),
    ready: r.ready,
    failed: r.failed,
    cancelled: r.cancelled,
    bytesDone: r.done + r.ready_bytes,
    bytesTotal: r.total + r.ready_bytes,
    bytesPerSecond: Math.max(0, r.rate),
  }));
}
