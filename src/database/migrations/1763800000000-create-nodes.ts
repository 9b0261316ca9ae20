import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateNodes1763800000000 implements MigrationInterface {
  name = 'CreateNodes1763800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "nodes" (
        "id" uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        "name" varchar(200) NOT NULL UNIQUE,
        "url" varchar(500) NOT NULL,
        "status" varchar(16) NOT NULL CHECK ("status" IN ('ONLINE', 'OFFLINE')),
        "token_hash" varchar(64) NOT NULL,
        "control_token" varchar(128) NOT NULL,
        "capacity" jsonb NOT NULL,
        "memory_bytes" bigint NOT NULL,
        "metrics" jsonb,
        "last_heartbeat_at" timestamptz NOT NULL,
        "registered_at" timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE "node_model_states" (
        "node_id" uuid NOT NULL REFERENCES "nodes" ("id") ON DELETE CASCADE,
        "model_id" varchar(512) NOT NULL REFERENCES "registered_models" ("id") ON DELETE CASCADE,
        "lifecycle_status" varchar(16) NOT NULL
          CHECK ("lifecycle_status" IN ('PENDING', 'DOWNLOADING', 'LOADING', 'READY', 'ERROR')),
        "bytes_done" bigint NOT NULL DEFAULT 0,
        "bytes_total" bigint NOT NULL DEFAULT 0,
        "file_path" text,
        "error_code" varchar(64),
        "error_message" text,
        "version" bigint NOT NULL DEFAULT 0,
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY ("node_id", "model_id"),
        CHECK ("bytes_done" >= 0 AND "bytes_total" >= 0)
      )`);
    await q.query(`CREATE INDEX "IDX_node_model_states_model" ON "node_model_states" ("model_id")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "node_model_states"`);
    await q.query(`DROP TABLE "nodes"`);
  }
}
