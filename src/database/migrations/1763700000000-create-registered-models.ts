import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateRegisteredModels1763700000000 implements MigrationInterface {
  name = 'CreateRegisteredModels1763700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "registered_models" (
        "id" varchar(512) PRIMARY KEY,
        "source" varchar(32) NOT NULL CHECK ("source" IN ('CATALOG', 'HUGGING_FACE')),
        "repo" varchar(200) NOT NULL,
        "repo_key" varchar(200) NOT NULL,
        "revision" varchar(64) NOT NULL,
        "primary_filename" varchar(1024) NOT NULL,
        "files" jsonb NOT NULL,
        "model" jsonb NOT NULL,
        "selection_note" text NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "updated_at" timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(
      `CREATE UNIQUE INDEX "UQ_registered_models_repo_file" ON "registered_models" ("repo_key", "primary_filename")`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "registered_models"`);
  }
}
