import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { REDIS } from '../events/redis.tokens.js';
import { tokenMatches } from './node-tokens.js';

/** Nodes whose token this replica remembers, at most (a node's entry is refreshed by each heartbeat it records). */
const KNOWN_TOKENS_MAX = 100_000;

/**
 * When each node's latest heartbeat reached a replica, recorded the moment its request line and headers are read —
 * before the body, the database or anything else the handler waits for. A replica whose event loop is saturated (heavy
 * queries, a long GC) may take longer than NODE_OFFLINE_AFTER_MS to record a heartbeat it already holds: the liveness
 * sweep of every replica reads these arrivals and never calls a node OFFLINE whose heartbeat arrived within the
 * threshold, whoever is still processing it.
 *
 * The mark costs one Redis command written in the same tick (no await, no extra turn of the loop), and only a caller
 * presenting the node's token can make it: the token's hash is checked against the one this replica last recorded a
 * heartbeat with (a node this replica has not seen yet is marked by the heartbeat itself, once recorded).
 */
@Injectable()
export class HeartbeatArrivals {
  private readonly key: string;
  private readonly tokens = new Map<string, string>();

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.key = `${config.REDIS_PREFIX}:liveness:arrivals`;
  }

  /** A heartbeat was recorded with this token: its next arrivals can be marked early. */
  remember(nodeId: string, tokenHash: string): void {
    if (this.tokens.get(nodeId) === tokenHash) return;
    this.tokens.delete(nodeId);
    if (this.tokens.size >= KNOWN_TOKENS_MAX) this.tokens.delete(this.tokens.keys().next().value!);
    this.tokens.set(nodeId, tokenHash);
  }

  /** Forgets a node's token (it was refused: rotated or removed). */
  forget(nodeId: string): void {
    this.tokens.delete(nodeId);
  }

  /** A heartbeat request from this node just arrived (headers read); marked if the token is the one last recorded. */
  arrived(nodeId: string, token: string | null): void {
    const known = this.tokens.get(nodeId);
    if (!known || !token || !tokenMatches(token, known)) return;
    this.mark(nodeId);
  }

  /** Marks an arrival now (fire and forget: a lost mark only means the recorded heartbeat is what counts). */
  mark(nodeId: string): void {
    this.redis.zadd(this.key, Date.now(), nodeId).catch(() => undefined);
  }

  /**
   * Nodes whose heartbeat reached some replica within the last `windowMs`; older marks are dropped. With Redis away,
   * none: the heartbeats recorded in Postgres decide alone, as the sweep must go on.
   */
  async since(windowMs: number): Promise<string[]> {
    const from = Date.now() - windowMs;
    try {
      const [, recent] = await Promise.all([
        this.redis.zremrangebyscore(this.key, '-inf', `(${from - windowMs}`),
        this.redis.zrangebyscore(this.key, from, '+inf'),
      ]);
      return recent;
    } catch {
      return [];
    }
  }
}
