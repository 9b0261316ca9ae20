import type { EntityManager } from 'typeorm';
import type { SupportedModelDef } from '../catalog/supported-model.js';
import type { ManifestFile } from './manifest.js';
import type { FleetAggregate } from './model-status.js';
import type { ModelSource } from './model-status.js';
import { RegisteredModelEntity } from './entities/registered-model.entity.js';

/** A model's registration (or none) and fleet aggregate, read in one statement: one consistent snapshot. */
export interface FleetSnapshot {
  id: string;
  registration: RegisteredModelEntity | null;
  fleet: FleetAggregate;
  /** Grows with every node × model write and registration change of this model: orders two snapshots. */
  version: number;
}

interface Row {
  id: string;
  registration: RegistrationJson | null;
  ready: number | null;
  in_flight: number | null;
  failed: number | null;
  done: number | null;
  total: number | null;
  version: number | null;
  failures: Array<{ nodeId: string; errorMessage: string | null }> | null;
}

interface RegistrationJson {
  id: string;
  source: ModelSource;
  repo: string;
  repo_key: string;
  revision: string;
  primary_filename: string;
  files: ManifestFile[];
  model: SupportedModelDef;
  selection_note: string;
  created_at: string;
  updated_at: string;
}

/**
 * The aggregate (sums of the model's stripes, a few rows) and, only for a model that nothing is ready or in flight
 * for, its failed nodes' reasons (a partial index keeps that to the failed rows).
 */
const AGGREGATE = `
  LEFT JOIN LATERAL (
    SELECT sum(ready)::int AS ready, sum(in_flight)::int AS in_flight, sum(failed)::int AS failed,
           sum(in_flight_bytes_done)::float8 AS done, sum(in_flight_bytes_total)::float8 AS total,
           sum(version)::float8 AS version
      FROM model_fleet_stripes WHERE model_id = k.id
  ) a ON true
  LEFT JOIN LATERAL (
    SELECT json_agg(json_build_object('nodeId', s.node_id, 'errorMessage', s.error_message) ORDER BY s.node_id) AS failures
      FROM node_model_states s
     WHERE s.model_id = k.id AND s.lifecycle_status = 'ERROR' AND a.failed > 0 AND a.ready = 0 AND a.in_flight = 0
  ) f ON true`;

/** Snapshots of these models, registered or not, in the order asked. */
export async function readSnapshots(db: EntityManager, ids: readonly string[]): Promise<FleetSnapshot[]> {
  if (ids.length === 0) return [];
  const rows = await db.query<Row[]>(
    `SELECT k.id, to_jsonb(r) AS registration, a.*, f.failures
       FROM unnest($1::varchar[]) WITH ORDINALITY AS k(id, position)
       LEFT JOIN registered_models r ON r.id = k.id
       ${AGGREGATE}
      ORDER BY k.position`,
    [ids],
  );
  return rows.map(toSnapshot);
}

/** Snapshots of every registered model, oldest registration first. */
export async function readRegisteredSnapshots(db: EntityManager): Promise<FleetSnapshot[]> {
  const rows = await db.query<Row[]>(
    `SELECT k.id, to_jsonb(k) AS registration, a.*, f.failures
       FROM registered_models k
       ${AGGREGATE}
      ORDER BY k.created_at, k.id`,
  );
  return rows.map(toSnapshot);
}

function toSnapshot(row: Row): FleetSnapshot {
  return {
    id: row.id,
    registration: row.registration ? toRegistration(row.registration) : null,
    fleet: {
      ready: row.ready ?? 0,
      inFlight: row.in_flight ?? 0,
      failed: row.failed ?? 0,
      inFlightBytesDone: row.done ?? 0,
      inFlightBytesTotal: row.total ?? 0,
      failures: row.failures ?? [],
    },
    version: row.version ?? 0,
  };
}

function toRegistration(r: RegistrationJson): RegisteredModelEntity {
  return Object.assign(new RegisteredModelEntity(), {
    id: r.id,
    source: r.source,
    repo: r.repo,
    repoKey: r.repo_key,
    revision: r.revision,
    primaryFilename: r.primary_filename,
    files: r.files,
    model: r.model,
    selectionNote: r.selection_note,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
  });
}
