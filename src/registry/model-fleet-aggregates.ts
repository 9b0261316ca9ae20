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

/** A model's status from its aggregate (`a`), in SQL: what deriveFromAggregate decides for a registered model. */
const STATUS_SQL = `CASE WHEN coalesce(a.ready, 0) > 0 THEN 'READY' WHEN coalesce(a.in_flight, 0) > 0 THEN 'DOWNLOADING'
  WHEN coalesce(a.failed, 0) > 0 THEN 'ERROR' ELSE 'REGISTERED' END`;

/**
 * Whether a Hugging Face registration's description (`k.model`) holds `$needle` (lower case), in the fields
 * RegistryService matches: id, name, repo, description, quantization, parameters, tags.
 */
const HF_TEXT_MATCH = `(
  strpos(lower(k.id), $4) > 0 OR strpos(lower(k.model->>'name'), $4) > 0 OR strpos(lower(k.model->>'repo'), $4) > 0
  OR strpos(lower(k.model->>'description'), $4) > 0 OR strpos(lower(k.model->>'quantization'), $4) > 0
  OR strpos(lower(k.model->>'parameterCount'), $4) > 0
  OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(k.model->'tags') t(tag) WHERE strpos(lower(t.tag), $4) > 0))`;

export interface RegisteredPageQuery {
  /** Only models after this id (code-unit order), or from the first. */
  after: string | null;
  limit: number | null;
  /** Only registered models in this status (REGISTERED, DOWNLOADING, READY, ERROR); null for any. */
  status: string | null;
  /**
   * Text filter: a lower-cased needle for Hugging Face registrations, and the catalog ids that match it (a catalog
   * registration is described by its catalog entry, which the caller matched in memory). Null: no text filter.
   */
  search: { needle: string; catalogIds: readonly string[] } | null;
}

/**
 * One page of registered models in id order (code-unit order: COLLATE "C", ids are ASCII), filtered by derived status
 * and text in the database: ids are walked in order and each model's aggregate read until the page is full, so a page
 * costs what it holds (plus what it skips), never the whole registry.
 */
export async function readRegisteredPage(db: EntityManager, q: RegisteredPageQuery): Promise<FleetSnapshot[]> {
  const rows = await db.query<Row[]>(
    `SELECT k.id, to_jsonb(k) AS registration, a.*, f.failures
       FROM (SELECT * FROM registered_models
              WHERE ($1::varchar IS NULL OR id COLLATE "C" > $1::varchar COLLATE "C")
              ORDER BY id COLLATE "C") k
       ${AGGREGATE}
      WHERE ($2::text IS NULL OR ${STATUS_SQL} = $2::text)
        AND ($4::text IS NULL OR (k.source = 'HUGGING_FACE' AND ${HF_TEXT_MATCH}) OR k.id = ANY($5::varchar[]))
      ORDER BY k.id COLLATE "C"
      LIMIT $3`,
    [q.after, q.status, q.limit, q.search?.needle ?? null, q.search ? [...q.search.catalogIds] : []],
  );
  return rows.map(toSnapshot);
}

/** Which of these ids are registered (one id-only query). */
export async function registeredAmong(db: EntityManager, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.query<Array<{ id: string }>>('SELECT id FROM registered_models WHERE id = ANY($1::varchar[])', [
    [...ids],
  ]);
  return new Set(rows.map((r) => r.id));
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
