/**
 * How an agent's heartbeats, their timeout and their retry agree with the control plane's offline threshold (one rule,
 * used by the control plane's config check and handed to agents in the register and heartbeat answers):
 *
 *   interval I = NODE_HEARTBEAT_INTERVAL_MS, threshold O = NODE_OFFLINE_AFTER_MS
 *   retry    R = min(1 s, max(100 ms, I / 4))          a failed or timed-out heartbeat is sent again after R, not after I
 *   timeout  T = min(2 I, (O − I) / 2 − R)              an attempt is given up after T
 *   rule     O ≥ 3 I  and  T ≥ 250 ms                    so  O ≥ I + 2 (T + R)
 *
 * After its last recorded heartbeat, a node that keeps sending has the next one due at I; if that one is lost or times
 * out, two more full attempts (T + R each) still fit before O: one slow answer or one lost packet never makes a node
 * OFFLINE. Defaults (I = 5 s, O = 20 s): T = 6.5 s, R = 1 s.
 */
export const MIN_HEARTBEAT_TIMEOUT_MS = 250;

export interface HeartbeatTiming {
  intervalMs: number;
  timeoutMs: number;
  retryMs: number;
}

export function heartbeatRetryMs(intervalMs: number): number {
  return Math.min(1000, Math.max(100, Math.floor(intervalMs / 4)));
}

export function heartbeatTiming(intervalMs: number, offlineAfterMs: number): HeartbeatTiming {
  const retryMs = heartbeatRetryMs(intervalMs);
  const timeoutMs = Math.min(2 * intervalMs, Math.floor((offlineAfterMs - intervalMs) / 2) - retryMs);
  return { intervalMs, timeoutMs: Math.max(MIN_HEARTBEAT_TIMEOUT_MS, timeoutMs), retryMs };
}

/** What is wrong with this combination (a message naming the variables), or null. */
export function heartbeatTimingProblem(intervalMs: number, offlineAfterMs: number): string | null {
  if (offlineAfterMs < 3 * intervalMs) {
    return (
      `must be at least 3 × NODE_HEARTBEAT_INTERVAL_MS (${3 * intervalMs} ms for NODE_HEARTBEAT_INTERVAL_MS=${intervalMs}), ` +
      'or a node would be called OFFLINE for one late or lost heartbeat'
    );
  }
  const retryMs = heartbeatRetryMs(intervalMs);
  const needed = intervalMs + 2 * (MIN_HEARTBEAT_TIMEOUT_MS + retryMs);
  if (offlineAfterMs < needed) {
    return (
      `must be at least NODE_HEARTBEAT_INTERVAL_MS + 2 × (${MIN_HEARTBEAT_TIMEOUT_MS} ms timeout + ${retryMs} ms retry) = ` +
      `${needed} ms for NODE_HEARTBEAT_INTERVAL_MS=${intervalMs}: after a missed heartbeat, two more attempts must fit`
    );
  }
  return null;
}
