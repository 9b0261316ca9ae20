import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { REDIS } from '../events/redis.tokens.js';
import { HeartbeatArrivals } from './heartbeat-arrivals.service.js';
import { NodesService } from './nodes.service.js';

/** How often each replica records that its event loop turns (and how late the turn came). */
export const PULSE_MS = 1000;
/** A pause shorter than this is noise (GC, a busy tick), not a stall. */
const STALL_NOISE_MS = 50;

/**
 * Marks silent nodes OFFLINE. Every replica sweeps; the update is atomic, so each transition is reported once.
 *
 * A node is alive while its heartbeats arrive: one whose latest heartbeat reached any replica within
 * NODE_OFFLINE_AFTER_MS (HeartbeatArrivals, marked when its headers are read) is never called OFFLINE, however long
 * that replica then takes to record it (a loop saturated by heavy queries).
 *
 * Silence is judged from the last heartbeat written to Postgres by whichever replica received it, but a heartbeat can
 * be waiting in a replica whose event loop is blocked (a heavy query, a long GC, a paused process): the node is alive,
 * its heartbeat merely queued. So every replica records a pulse in Redis twice a second with the longest stall of its
 * event loop over the last NODE_OFFLINE_AFTER_MS, and a sweep grants that much more silence: the longest stall of any
 * live replica, its own included (how late its own timer fired), at most NODE_OFFLINE_AFTER_MS more. A replica whose
 * pulse is older than twice NODE_OFFLINE_AFTER_MS is counted as dead and dropped (its stall no longer excuses anyone),
 * so a node that really went silent is OFFLINE after at most twice the threshold.
 */
@Injectable()
export class NodeLivenessService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(NodeLivenessService.name);
  private readonly replicaId = randomUUID();
  private readonly pulseKey: string;
  private sweepTimer: NodeJS.Timeout | undefined;
  private pulseTimer: NodeJS.Timeout | undefined;
  private lastPulse = performance.now();
  private lastSweep = performance.now();
  /** Stalls of this replica's event loop within the window: when they ended and how long they were. */
  private stalls: Array<{ at: number; ms: number }> = [];

  constructor(
    private readonly nodes: NodesService,
    private readonly arrivals: HeartbeatArrivals,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.pulseKey = `${config.REDIS_PREFIX}:liveness:pulses`;
  }

  get sweepEveryMs(): number {
    return Math.max(100, Math.min(this.config.NODE_HEARTBEAT_INTERVAL_MS, this.config.NODE_OFFLINE_AFTER_MS / 3));
  }

  onApplicationBootstrap(): void {
    this.lastPulse = this.lastSweep = performance.now();
    this.pulseTimer = setInterval(() => void this.pulse(), PULSE_MS);
    this.pulseTimer.unref();
    this.sweepTimer = setInterval(() => void this.sweep(), this.sweepEveryMs);
    this.sweepTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.pulseTimer);
    clearInterval(this.sweepTimer);
    // A replica that stops cleanly is no longer waited for.
    await this.redis.hdel(this.pulseKey, this.replicaId).catch(() => undefined);
  }

  /** Records how late this turn of the event loop came, and tells the other replicas. */
  async pulse(): Promise<void> {
    const now = performance.now();
    this.noteStall(now - this.lastPulse - PULSE_MS);
    this.lastPulse = now;
    try {
      await this.redis.hset(this.pulseKey, this.replicaId, `${Date.now()}:${Math.round(this.recentStallMs())}`);
    } catch {
      // Redis away: the other replicas count this one as dead after the window, and grant nothing for it.
    }
  }

  async sweep(): Promise<void> {
    const now = performance.now();
    // This replica's own timer came late: heartbeats may be waiting in its own sockets.
    this.noteStall(now - this.lastSweep - this.sweepEveryMs);
    this.lastSweep = now;
    try {
      const [graceMs, arrived] = await Promise.all([
        this.stallGraceMs(),
        this.arrivals.since(this.config.NODE_OFFLINE_AFTER_MS),
      ]);
      const offline = await this.nodes.sweepOffline(this.config.NODE_OFFLINE_AFTER_MS + graceMs, arrived);
      for (const node of offline) {
        this.logger.warn(
          `Node ${node.name} (${node.id}) missed its heartbeats: OFFLINE` +
            (graceMs > 0 ? ` (after ${Math.round(graceMs)} ms more for a stalled replica)` : ''),
        );
      }
    } catch (err) {
      this.logger.error(`Liveness sweep failed: ${(err as Error).message}`);
    }
  }

  /** The longest recent stall of any live replica: how much longer a heartbeat may have waited in one. */
  async stallGraceMs(): Promise<number> {
    const window = this.config.NODE_OFFLINE_AFTER_MS;
    let grace = this.recentStallMs();
    let pulses: Record<string, string>;
    try {
      pulses = await this.redis.hgetall(this.pulseKey);
    } catch {
      return Math.min(grace, window);
    }
    const now = Date.now();
    const dead: string[] = [];
    for (const [replica, value] of Object.entries(pulses)) {
      if (replica === this.replicaId) continue;
      const [at, stall] = value.split(':').map(Number);
      const age = now - (at ?? 0);
      if (!Number.isFinite(age) || age > 2 * window) {
        dead.push(replica);
        continue;
      }
      // A pulse overdue now is a stall in progress.
      grace = Math.max(grace, stall ?? 0, age - PULSE_MS);
    }
    if (dead.length) await this.redis.hdel(this.pulseKey, ...dead).catch(() => undefined);
    return Math.min(Math.max(0, grace), window);
  }

  private noteStall(lateMs: number): void {
    const now = Date.now();
    if (lateMs > STALL_NOISE_MS) this.stalls.push({ at: now, ms: lateMs });
    const from = now - this.config.NODE_OFFLINE_AFTER_MS;
    while (this.stalls.length && this.stalls[0]!.at < from) this.stalls.shift();
  }

  private recentStallMs(): number {
    return this.stalls.reduce((max, s) => Math.max(max, s.ms), 0);
  }
}
