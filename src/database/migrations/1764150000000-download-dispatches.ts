import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The control plane's bookkeeping of each node × model download (attempts, deadline, phase), apart from the state
 * the agent reports; and CANCELLED as a lifecycle status (cancelDownload keeps the partial file for a resume).
 */
export class DownloadDispatches1764150000000 implements MigrationInterface {
  name = 'DownloadDispatches1764150000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "download_dispatches" (
        "node_id" uuid NOT NULL REFERENCES "nodes" ("id") ON DELETE CASCADE,
        "model_id" varchar(512) NOT NULL REFERENCES "registered_models" ("id") ON DELETE CASCADE,
        "phase" varchar(16) NOT NULL CHECK ("phase" IN ('QUEUED', 'RUNNING', 'DONE', 'FAILED', 'CANCELLED')),
        "attempt" integer NOT NULL DEFAULT 0,
        "max_attempts" integer NOT NULL,
        "bytes_total" bigint NOT NULL DEFAULT 0,
        "requested_at" timestamptz NOT NULL DEFAULT now(),
        "next_at" timestamptz NOT NULL DEFAULT now(),
        "deadline_at" timestamptz,
        "last_error" text,
        PRIMARY KEY ("node_id", "model_id")
      )`);
    await q.query(
      `CREATE INDEX "IDX_download_dispatches_open" ON "download_dispatches" ("phase", "next_at") WHERE "phase" IN ('QUEUED', 'RUNNING')`,
    );
    await q.query(
      `ALTER TABLE "node_model_states" DROP CONSTRAINT IF EXISTS "node_model_states_lifecycle_status_check"`,
    );
    await q.query(`
      ALTER TABLE "node_model_states" ADD CONSTRAINT "node_model_states_lifecycle_status_check"
        CHECK ("lifecycle_status" IN ('PENDING', 'DOWNLOADING', 'LOADING', 'READY', 'ERROR', 'CANCELLED'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "download_dispatches"`);
    await q.query(`UPDATE "node_model_states" SET "lifecycle_status" = 'ERROR' WHERE "lifecycle_status" = 'CANCELLED'`);
    await q.query(
      `ALTER TABLE "node_model_states" DROP CONSTRAINT IF EXISTS "node_model_states_lifecycle_status_check"`,
    );
    await q.query(`
      ALTER TABLE "node_model_states" ADD CONSTRAINT "node_model_states_lifecycle_status_check"
        CHECK ("lifecycle_status" IN ('PENDING', 'DOWNLOADING', 'LOADING', 'READY', 'ERROR'))`);
  }
}
