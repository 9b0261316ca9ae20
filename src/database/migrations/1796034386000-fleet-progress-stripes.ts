import type { MigrationInterface, QueryRunner } from 'typeorm';

const IN_FLIGHT = `('PENDING', 'DOWNLOADING', 'LOADING')`;

/**
 * One node × model row's signed contribution to its model's stripe. `progress` adds what fleetProgress shows: pending,
 * downloading and cancelled counts, the bytes of ready copies, and the transfer rate of the downloading ones (whole
 * bytes/s, so adding and subtracting never drifts).
 */
const facts = (rows: string, sign: number, progress: boolean) => `
  SELECT model_id, get_byte(uuid_send(node_id), 15) & 15 AS stripe,
         ${sign} AS nodes,
         ${sign} * (lifecycle_status = 'READY')::int AS ready,
         ${sign} * (lifecycle_status IN ${IN_FLIGHT})::int AS in_flight,
         ${sign} * (lifecycle_status = 'ERROR')::int AS failed,
         ${sign} * CASE WHEN lifecycle_status IN ${IN_FLIGHT} THEN least(bytes_done, bytes_total) ELSE 0 END AS done,
         ${sign} * CASE WHEN lifecycle_status IN ${IN_FLIGHT} THEN bytes_total ELSE 0 END AS total,
         ${
           progress
             ? `${sign} * (lifecycle_status = 'PENDING')::int AS pending,
         ${sign} * (lifecycle_status = 'DOWNLOADING')::int AS downloading,
         ${sign} * (lifecycle_status = 'CANCELLED')::int AS cancelled,
         ${sign} * CASE WHEN lifecycle_status = 'READY' THEN bytes_total ELSE 0 END AS ready_bytes,
         ${sign} * CASE WHEN lifecycle_status = 'DOWNLOADING' THEN coalesce(round(bytes_per_second), 0)::bigint ELSE 0 END AS rate,`
             : ''
         }
         ${sign > 0 ? 1 : 0} AS changes
    FROM ${rows}`;

const upsert = (contributions: string, progress: boolean) => `
  INSERT INTO model_fleet_stripes AS s
    (model_id, stripe, nodes, ready, in_flight, failed, in_flight_bytes_done, in_flight_bytes_total, version
     ${progress ? ', pending, downloading, cancelled, ready_bytes, bytes_per_second' : ''})
  SELECT model_id, stripe, sum(nodes), sum(ready), sum(in_flight), sum(failed), sum(done), sum(total), sum(changes)
         ${progress ? ', sum(pending), sum(downloading), sum(cancelled), sum(ready_bytes), sum(rate)' : ''}
    FROM (${contributions}) c
   GROUP BY model_id, stripe
   ORDER BY model_id, stripe
  ON CONFLICT (model_id, stripe) DO UPDATE SET
    nodes = s.nodes + EXCLUDED.nodes, ready = s.ready + EXCLUDED.ready, in_flight = s.in_flight + EXCLUDED.in_flight,
    failed = s.failed + EXCLUDED.failed,
    in_flight_bytes_done = s.in_flight_bytes_done + EXCLUDED.in_flight_bytes_done,
    in_flight_bytes_total = s.in_flight_bytes_total + EXCLUDED.in_flight_bytes_total,
    ${
      progress
        ? `pending = s.pending + EXCLUDED.pending, downloading = s.downloading + EXCLUDED.downloading,
    cancelled = s.cancelled + EXCLUDED.cancelled, ready_bytes = s.ready_bytes + EXCLUDED.ready_bytes,
    bytes_per_second = s.bytes_per_second + EXCLUDED.bytes_per_second,`
        : ''
    }
    version = s.version + EXCLUDED.version`;

const deleteBody = (progress: boolean) => `
  UPDATE model_fleet_stripes s SET
    nodes = s.nodes + d.nodes, ready = s.ready + d.ready, in_flight = s.in_flight + d.in_flight,
    failed = s.failed + d.failed, in_flight_bytes_done = s.in_flight_bytes_done + d.done,
    in_flight_bytes_total = s.in_flight_bytes_total + d.total,
    ${
      progress
        ? `pending = s.pending + d.pending, downloading = s.downloading + d.downloading,
    cancelled = s.cancelled + d.cancelled, ready_bytes = s.ready_bytes + d.ready_bytes,
    bytes_per_second = s.bytes_per_second + d.rate,`
        : ''
    }
    version = s.version + d.removed
    FROM (SELECT model_id, stripe, sum(nodes) AS nodes, sum(ready) AS ready, sum(in_flight) AS in_flight,
                 sum(failed) AS failed, sum(done) AS done, sum(total) AS total, count(*) AS removed
                 ${
                   progress
                     ? ', sum(pending) AS pending, sum(downloading) AS downloading, sum(cancelled) AS cancelled, sum(ready_bytes) AS ready_bytes, sum(rate) AS rate'
                     : ''
                 }
            FROM (${facts('old_rows', -1, progress)}) c GROUP BY model_id, stripe) d
   WHERE s.model_id = d.model_id AND s.stripe = d.stripe`;

async function replaceFunctions(q: QueryRunner, progress: boolean): Promise<void> {
  await q.query(`
    CREATE OR REPLACE FUNCTION model_fleet_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      ${upsert(facts('new_rows', 1, progress), progress)};
      RETURN NULL;
    END $$`);
  await q.query(`
    CREATE OR REPLACE FUNCTION model_fleet_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      ${upsert(`${facts('new_rows', 1, progress)} UNION ALL ${facts('old_rows', -1, progress)}`, progress)};
      RETURN NULL;
    END $$`);
  await q.query(`
    CREATE OR REPLACE FUNCTION model_fleet_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      ${deleteBody(progress)};
      RETURN NULL;
    END $$`);
}

/**
 * What a rollout's progress view (fleetProgress) needs, kept in the same stripes as the model aggregate by the same
 * triggers: per model, a few rows to read whatever the fleet size, never every node's state.
 */
export class FleetProgressStripes1796034386000 implements MigrationInterface {
  name = 'FleetProgressStripes1796034386000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE "model_fleet_stripes"
        ADD COLUMN "pending" int NOT NULL DEFAULT 0,
        ADD COLUMN "downloading" int NOT NULL DEFAULT 0,
        ADD COLUMN "cancelled" int NOT NULL DEFAULT 0,
        ADD COLUMN "ready_bytes" bigint NOT NULL DEFAULT 0,
        ADD COLUMN "bytes_per_second" bigint NOT NULL DEFAULT 0`);
    // Rows written from here on are counted by the new functions; rows already there are counted once, now.
    await q.query(`LOCK TABLE "node_model_states" IN SHARE MODE`);
    await replaceFunctions(q, true);
    await q.query(`
      UPDATE model_fleet_stripes s SET pending = c.pending, downloading = c.downloading, cancelled = c.cancelled,
             ready_bytes = c.ready_bytes, bytes_per_second = c.rate
        FROM (SELECT model_id, stripe, sum(pending) AS pending, sum(downloading) AS downloading,
                     sum(cancelled) AS cancelled, sum(ready_bytes) AS ready_bytes, sum(rate) AS rate
                FROM (${facts('node_model_states', 1, true)}) f GROUP BY model_id, stripe) c
       WHERE s.model_id = c.model_id AND s.stripe = c.stripe`);
  }

  async down(q: QueryRunner): Promise<void> {
    await replaceFunctions(q, false);
    await q.query(`
      ALTER TABLE "model_fleet_stripes"
        DROP COLUMN "pending", DROP COLUMN "downloading", DROP COLUMN "cancelled", DROP COLUMN "ready_bytes",
        DROP COLUMN "bytes_per_second"`);
  }
}
