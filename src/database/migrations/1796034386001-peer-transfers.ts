import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Peer copy: every source the control plane handed a node for one file (a peer with its grant, or the Hub), with how
 * it ended and the bytes it brought. Open rows are a peer's uploads in flight (bounded per peer); finished ones are
 * where each node's bytes came from and the fleet's bytes saved from the Hub; BAD_BYTES ones keep a peer from serving
 * that model again.
 */
export class PeerTransfers1796034386001 implements MigrationInterface {
  name = 'PeerTransfers1796034386001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "peer_transfers" (
        "id" uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        "model_id" varchar(512) NOT NULL REFERENCES "registered_models" ("id") ON DELETE CASCADE,
        "path" text NOT NULL,
        "sha256" varchar(64) NOT NULL,
        "target_node_id" uuid NOT NULL REFERENCES "nodes" ("id") ON DELETE CASCADE,
        "source" varchar(8) NOT NULL CHECK ("source" IN ('HUB', 'PEER')),
        "source_node_id" uuid REFERENCES "nodes" ("id") ON DELETE SET NULL,
        "status" varchar(16) NOT NULL CHECK ("status" IN ('ACTIVE', 'DONE', 'FAILED', 'BAD_BYTES')),
        "bytes" bigint NOT NULL DEFAULT 0,
        "message" text,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "expires_at" timestamptz NOT NULL,
        "finished_at" timestamptz
      )`);
    await q.query(
      `CREATE INDEX "IDX_peer_transfers_active" ON "peer_transfers" ("model_id", "path") WHERE "status" = 'ACTIVE'`,
    );
    await q.query(
      `CREATE INDEX "IDX_peer_transfers_source_active" ON "peer_transfers" ("source_node_id") WHERE "status" = 'ACTIVE'`,
    );
    await q.query(
      `CREATE INDEX "IDX_peer_transfers_target" ON "peer_transfers" ("target_node_id", "model_id", "created_at" DESC)`,
    );
    await q.query(
      `CREATE INDEX "IDX_peer_transfers_bad" ON "peer_transfers" ("source_node_id", "model_id") WHERE "status" = 'BAD_BYTES'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "peer_transfers"`);
  }
}
