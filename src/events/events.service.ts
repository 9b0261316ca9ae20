import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import { Redis } from 'ioredis';
import type { AppConfig } from '../config/app-config.js';
import { createRedisClient } from './redis-client.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { REDIS } from './redis.tokens.js';
import type { Topic, TopicEvent, TopicPayloads } from './topics.js';

/**
 * The Redis-backed PubSub, so every replica's subscribers see every event. Each event gets a fleet-wide,
 * monotonically increasing `seq` (Redis INCR) and a timestamp. Callers publish only after their write committed.
 */
@Injectable()
export class EventsService implements OnApplicationShutdown {
  private readonly logger = new Logger(EventsService.name);
  private readonly pubsub: RedisPubSub;
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly prefix: string;
  private readonly localListeners: Array<(topic: Topic) => void> = [];

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(REDIS) private readonly redis: Redis,
  ) {
    this.prefix = config.REDIS_PREFIX;
    // Publishing fails fast while Redis is away (a request must not hang on it); the subscriber waits and resubscribes.
    this.publisher = createRedisClient(config.REDIS_URL, { maxRetriesPerRequest: 1 });
    this.subscriber = createRedisClient(config.REDIS_URL, { maxRetriesPerRequest: null });
    this.pubsub = new RedisPubSub({ publisher: this.publisher, subscriber: this.subscriber });
  }

  /** Called synchronously on every publish from this process, before the event reaches Redis (caches drop entries here). */
  onLocalPublish(listener: (topic: Topic) => void): void {
    this.localListeners.push(listener);
  }

  async publish<T extends Topic>(topic: T, payload: TopicPayloads[T]): Promise<TopicEvent<T>> {
    for (const listener of this.localListeners) listener(topic);
    const seq = await this.redis.incr(`${this.prefix}:events:seq`);
    const event = { ...payload, seq, timestamp: new Date().toISOString() } as TopicEvent<T>;
    await this.pubsub.publish(this.channel(topic), event);
    return event;
  }

  /** Publishes and logs a failure instead of throwing: for callers whose write already committed and must not fail because Redis blinked. */
  async publishSafely<T extends Topic>(topic: T, payload: TopicPayloads[T]): Promise<void> {
    try {
      await this.publish(topic, payload);
    } catch (err) {
      this.logger.error(`Could not publish ${topic}: ${(err as Error).message}`);
    }
  }

  subscribe<T extends Topic>(topic: T): AsyncIterableIterator<TopicEvent<T>> {
    return this.pubsub.asyncIterableIterator(this.channel(topic)) as AsyncIterableIterator<TopicEvent<T>>;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pubsub.close().catch(() => undefined);
    this.publisher.disconnect();
    this.subscriber.disconnect();
  }

  private channel(topic: Topic): string {
    return `${this.prefix}:events:${topic}`;
  }
}
