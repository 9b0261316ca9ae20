import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import { HeaderMap } from '@apollo/server';
import { Plugin } from '@nestjs/apollo';
import { Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Kind, OperationTypeNode, type FormattedExecutionResult } from 'graphql';
import { LRUCache } from 'lru-cache';
import { EventsService } from '../events/events.service.js';
import { Topic } from '../events/topics.js';
import { HfStatsService } from '../hf-stats/hf-stats.service.js';

/** Root fields whose answers change only with a model status event or new Hub figures. */
const CACHEABLE_ROOT_FIELDS = new Set(['models', 'model', 'supportedModels']);
/** Safety net for what no event announces (Hub figures turning stale as their TTL runs out). */
const MAX_AGE_MS = 5000;

interface Cached {
  generation: number;
  result: FormattedExecutionResult;
}

/**
 * Answers repeated read-only model queries from memory. Every model status event (from this replica at once, from the
 * others through Redis) and every Hub figures update starts a new generation, so no answer outlives a change it
 * would have shown. Dashboards poll `models` far more often than models change; this keeps that cheap.
 */
@Plugin()
export class ModelsQueryCachePlugin implements ApolloServerPlugin, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ModelsQueryCachePlugin.name);
  private readonly cache = new LRUCache<string, Cached>({ max: 500, ttl: MAX_AGE_MS });
  private generation = 0;
  private remote: AsyncIterableIterator<unknown> | null = null;

  constructor(
    private readonly events: EventsService,
    private readonly stats: HfStatsService,
  ) {}

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

  async requestDidStart(): Promise<GraphQLRequestListener<Record<string, never>>> {
    const generation = this.generation;
    let key: string | null = null;
    let hit = false;
    return {
      responseForOperation: async ({ request, operation }) => {
        const cacheable =
          operation.operation === OperationTypeNode.QUERY &&
          operation.selectionSet.selections.every(
            (s) => s.kind === Kind.FIELD && CACHEABLE_ROOT_FIELDS.has(s.name.value),
          );
        if (!cacheable) return null;
        key = JSON.stringify([request.query, request.operationName ?? null, request.variables ?? null]);
        const cached = this.cache.get(key);
        if (!cached || cached.generation !== generation) return null;
        hit = true;
        return {
          http: { status: undefined, headers: new HeaderMap() },
          body: { kind: 'single', singleResult: cached.result },
        };
      },
      willSendResponse: async ({ response }) => {
        // Something changed while this ran: its answer may predate the change, so it is not kept.
        if (!key || hit || generation !== this.generation || response.body.kind !== 'single') return;
        if (response.body.singleResult.errors?.length) return;
        this.cache.set(key, { generation, result: response.body.singleResult });
      },
    };
  }

  private invalidate(): void {
    this.generation++;
    this.cache.clear();
  }

  private async follow(events: AsyncIterableIterator<unknown>): Promise<void> {
    try {
      for await (const _event of events) this.invalidate();
    } catch (err) {
      this.logger.error(`Lost the model event stream; caching stops: ${(err as Error).message}`);
      this.generation = Number.NaN;
    }
  }
}
