import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateAuditLog1796034360000 implements MigrationInterface {
  name = 'CreateAuditLog1796034360000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "audit_log" (
        "id" bigserial PRIMARY KEY,
        "at" timestamptz NOT NULL DEFAULT now(),
        "key_id" uuid,
        "key_name" varchar(100) NOT NULL,
        "role" varchar(16) NOT NULL,
        "operation_name" varchar(200),
        "field" varchar(100) NOT NULL,
        "arguments" jsonb NOT NULL,
        "result" varchar(32) NOT NULL,
        "error_reason" varchar(64),
        "transport" varchar(8) NOT NULL,
        "remote_address" varchar(64)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "audit_log"`);
  }
}
