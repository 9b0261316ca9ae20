import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateApiKeys1764100000000 implements MigrationInterface {
  name = 'CreateApiKeys1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "api_keys" (
        "id" uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        "name" varchar(100) NOT NULL,
        "role" varchar(16) NOT NULL CHECK ("role" IN ('ADMIN', 'OPERATOR', 'VIEWER', 'INFERENCE')),
        "prefix" varchar(16) NOT NULL,
        "key_hash" char(64) NOT NULL UNIQUE,
        "created_by" uuid REFERENCES "api_keys" ("id") ON DELETE SET NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "last_used_at" timestamptz,
        "expires_at" timestamptz,
        "revoked_at" timestamptz
      )`);
    await q.query(`
      CREATE TABLE "api_sessions" (
        "id" uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        "token_hash" char(64) NOT NULL UNIQUE,
        "credential_hash" char(64) NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "expires_at" timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX "IDX_api_sessions_expires" ON "api_sessions" ("expires_at")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "api_sessions"`);
    await q.query(`DROP TABLE "api_keys"`);
  }
}
