import { NodeStatus } from './node-status.js';

/**
 * A heartbeat recorded in one statement on the node's row, only with the node's own token: liveness and metrics, and
 * the status it had before (so an OFFLINE → ONLINE change is published once). No row back: an unknown node or another
 * node's token. Shared by the main thread (NodesService) and the heartbeat listener's thread, which has no Nest.
 */
export const RECORD_HEARTBEAT_SQL = `WITH old AS (SELECT id, status, last_heartbeat_at FROM nodes WHERE id = $1 AND token_hash = $2 FOR NO KEY UPDATE),
            u AS (UPDATE nodes n SET status = $3, last_heartbeat_at = $4, metrics = $5::jsonb
                    FROM old WHERE n.id = old.id RETURNING old.status AS previous, old.last_heartbeat_at AS previous_at)
       SELECT previous, previous_at FROM u`;

export interface RecordedHeartbeatRow {
  previous: NodeStatus;
  previous_at: Date;
}

export function recordHeartbeatParams(nodeId: string, tokenHash: string, at: Date, metrics: unknown): unknown[] {
  return [nodeId, tokenHash, NodeStatus.ONLINE, at, JSON.stringify(metrics)];
}
