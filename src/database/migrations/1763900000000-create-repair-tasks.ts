import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateRepairTasks1763900000000 implements MigrationInterface {
  name = 'CreateRepairTasks1763900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "repair_tasks" (
        "id" uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        "node_id" uuid NOT NULL REFERENCES "nodes" ("id") ON DELETE CASCADE,
        "model_id" varchar(512) NOT NULL,
        "reason" varchar(32) NOT NULL,
        "detail" text NOT NULL,
        "trigger" varchar(16) NOT NULL,
        "status" varchar(16) NOT NULL CHECK ("status" IN ('IN_PROGRESS', 'SUCCESS', 'FAILED')),
        "from_zero" boolean NOT NULL,
        "attempts" int NOT NULL DEFAULT 0,
        "error_message" text,
        "timeout_ms" int NOT NULL,
        "started_at" timestamptz NOT NULL DEFAULT now(),
        "finished_at" timestamptz
      )`);
    // At most one repair in progress per node × model, whatever races: the database says no to the second.
    await q.query(
      `CREATE UNIQUE INDEX "UQ_repair_tasks_in_progress" ON "repair_tasks" ("node_id", "model_id") WHERE "status" = 'IN_PROGRESS'`,
    );
    await q.query(`CREATE INDEX "IDX_repair_tasks_started" ON "repair_tasks" ("started_at" DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "repair_tasks"`);
  }
}
