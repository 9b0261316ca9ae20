import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { EventsService } from '../../events/events.service.js';
import { Topic } from '../../events/topics.js';
import { HfStatsService } from '../../hf-stats/hf-stats.service.js';

/** Safety net for what no event announces (Hub figures turning stale as their TTL runs out). */
const MAX_AGE_MS = 5000;

interface Cached {
  generation: number;
  body: string;
}

/**
 * Serialized answers of read-only model queries. Every model status event (from this replica at once, from the others
 * through Redis) and every Hub figures update starts a new generation, so no answer outlives a change it would have
 * shown. Dashboards poll `models` far more often than models change; this keeps that cheap.
 */
@Injectable()
export class ModelsQueryCache implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ModelsQueryCache.name);
  private readonly entries = new LRUCache<string, Cached>({
    max: 200,
    ttl: MAX_AGE_MS,
    maxSize: 64 * 1024 * 1024,
    sizeCalculation: (c) => c.body.length || 1,
  });
  private current = 0;
  private remote: AsyncIterableIterator<unknown> | null = null;

  constructor(
    private readonly events: EventsService,
    private readonly stats: HfStatsService,
  ) {}

  static key(query: unknown, operationName: unknown, variables: unknown): string {
    return JSON.stringify([query, operationName ?? null, variables ?? null]);
  }

  get generation(): number {
    return this.current;
  }

  onApplicationBootstrap(): void {
    this.events.onLocalPublish((topic) => {
      if (topic === Topic.MODEL_STATUS_CHANGED) this.invalidate();
    });
    this.stats.onChange(() => this.invalidate());
    this.remote = this.events.subscribe(Topic.MODEL_STATUS_CHANGED);
    void this.follow(this.remote);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.remote?.return?.();
  }

  get(key: string): string | undefined {
    const hit = this.entries.get(key);
    return hit && hit.generation === this.current ? hit.body : undefined;
  }

  /** Keeps an answer computed during `generation`, unless something changed meanwhile (it may predate the change). */
  set(key: string, generation: number, body: string): void {
    if (generation === this.current) this.entries.set(key, { generation, body });
  }

  private invalidate(): void {
    this.current++;
    this.entries.clear();
  }

  private async follow(events: AsyncIterableIterator<unknown>): Promise<void> {
    try {
      for await (const _event of events) this.invalidate();
    } catch (err) {
      this.logger.error(`Lost the model event stream; caching stops: ${(err as Error).message}`);
      this.current = Number.NaN;
    }
  }
}
