import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Node protocol secrets never in clear: the generated join token lives in `fleet_secrets` (hash + sealed), control
 * tokens are sealed (SecretBox). Control tokens stored in clear before cannot be sealed here (the key is not in the
 * database), so they are dropped and each node's token invalidated: its agent is refused at its next heartbeat,
 * re-joins with the join token and gets fresh tokens. Idempotent (IF [NOT] EXISTS): a development database that ran
 * an earlier draft of it migrates cleanly.
 */
export class SealedNodeSecrets1796034385000 implements MigrationInterface {
  name = 'SealedNodeSecrets1796034385000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE IF NOT EXISTS "fleet_secrets" (
        "name" varchar(64) PRIMARY KEY,
        "hash" char(64) NOT NULL,
        "sealed" text NOT NULL,
        "updated_at" timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`ALTER TABLE "nodes" ADD COLUMN IF NOT EXISTS "control_token_sealed" text NOT NULL DEFAULT ''`);
    await q.query(`ALTER TABLE "nodes" ALTER COLUMN "control_token_sealed" DROP DEFAULT`);
    await q.query(`UPDATE "nodes" SET "token_hash" = ''`);
    await q.query(`ALTER TABLE "nodes" DROP COLUMN IF EXISTS "control_token"`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "nodes" ADD "control_token" varchar(128) NOT NULL DEFAULT ''`);
    await q.query(`ALTER TABLE "nodes" DROP COLUMN "control_token_sealed"`);
    await q.query(`DROP TABLE "fleet_secrets"`);
  }
}
