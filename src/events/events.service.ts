import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import { Redis } from 'ioredis';
import type { AppConfig } from '../config/app-config.js';
import { createRedisClient } from './redis-client.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { REDIS } from './redis.tokens.js';
import { streamOf, versionedPartsOf, type Topic, type TopicEvent, type TopicPayloads } from './topics.js';

/** How long the newest snapshot of an entity is remembered to stop an older one overtaking it (replicas race by ms). */
const SNAPSHOT_TTL_MS = 60_000;

/**
 * Numbers and publishes an event in one step (Redis runs a script atomically), so the order of `seq` is the order
 * subscribers receive an entity's events in, whichever replica published them.
 * KEYS: the stream's counter, then one key per versioned part. ARGV: channel, snapshot TTL, n, then n (version, JSON)
 * pairs, then n + 2 pieces of the message: piece 0, seq, piece 1, part 1, ..., piece n, part n, piece n + 1.
 * A part older than the newest one published for its key is replaced by that newest one.
 */
const PUBLISH_SCRIPT = `
local seq = redis.call('INCR', KEYS[1])
local n = tonumber(ARGV[3])
local pieces = 4 + 2 * n
local out = { ARGV[pieces], seq }
for i = 1, n do
  local version = tonumber(ARGV[2 + 2 * i])
  local json = ARGV[3 + 2 * i]
  local stored = redis.call('GET', KEYS[1 + i])
  local newer = false
  if stored then
    local sep = string.find(stored, '|', 1, true)
    if tonumber(string.sub(stored, 1, sep - 1)) > version then
      json = string.sub(stored, sep + 1)
      newer = true
    end
  end
  if not newer then
    redis.call('SET', KEYS[1 + i], ARGV[2 + 2 * i] .. '|' .. json, 'PX', ARGV[2])
  end
  out[#out + 1] = ARGV[pieces + i]
  out[#out + 1] = json
end
out[#out + 1] = ARGV[pieces + n + 1]
redis.call('PUBLISH', ARGV[1], table.concat(out))
return seq
`;

interface ScriptedRedis {
  llmfleetPublish(numberOfKeys: number, ...args: Array<string | number>): Promise<number>;
}

/**
 * The Redis-backed PubSub, so every replica's subscribers see every event. Each event gets a `seq` that counts the
 * events of its entity stream (topics.ts, streamOf) and a timestamp. Callers publish only after their write committed.
 */
@Injectable()
export class EventsService implements OnApplicationShutdown {
  private readonly logger = new Logger(EventsService.name);
  private readonly pubsub: RedisPubSub;
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly prefix: string;
  private readonly scripts: ScriptedRedis;
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
    // Sent once, then run by its sha (ioredis reloads it if Redis lost it).
    this.redis.defineCommand('llmfleetPublish', { lua: PUBLISH_SCRIPT });
    this.scripts = this.redis as unknown as ScriptedRedis;
  }

  /** Called synchronously on every publish from this process, before the event reaches Redis (caches drop entries here). */
  onLocalPublish(listener: (topic: Topic) => void): void {
    this.localListeners.push(listener);
  }

  /**
   * Numbers and publishes an event (one Redis call). The event returned is the one given; what subscribers receive may
   * carry a newer snapshot of a versioned part, when another replica published one meanwhile.
   */
  async publish<T extends Topic>(topic: T, payload: TopicPayloads[T]): Promise<TopicEvent<T>> {
    for (const listener of this.localListeners) listener(topic);
    const timestamp = new Date().toISOString();
    const parts = versionedPartsOf(topic, payload);
    const rest: Record<string, unknown> = { ...payload, timestamp };
    const partJson: string[] = [];
    for (const part of parts) {
      partJson.push(JSON.stringify(rest[part.field]));
      delete rest[part.field];
    }
    const pieces = [
      '{"seq":',
      ...parts.map((p) => `,${JSON.stringify(p.field)}:`),
      `,${JSON.stringify(rest).slice(1)}`,
    ];
    const seq = await this.scripts.llmfleetPublish(
      1 + parts.length,
      `${this.prefix}:events:seq:${streamOf(topic, payload)}`,
      ...parts.map((p) => `${this.prefix}:events:snapshot:${p.key}`),
      this.channel(topic),
      SNAPSHOT_TTL_MS,
      parts.length,
      ...parts.flatMap((p, i) => [p.version, partJson[i]!]),
      ...pieces,
    );
    return { ...payload, seq, timestamp };
  }

  /** Publishes and logs a failure instead of throwing: for callers whose write already committed and must not fail because Redis blinked. */
  async publishSafely<T extends Topic>(topic: T, payload: TopicPayloads[T]): Promise<void> {
    try {
      await this.publish(topic, payload);
    } catch (err) {
      this.logger.error(`Could not publish ${topic}: ${(err as Error).message}`);
    }
  }

  /** The seq of the last event of each stream (0 before the first): what a query answers so subscribers can join in. */
  async currentSeqs<T extends Topic>(topic: T, payloads: ReadonlyArray<TopicPayloads[T]>): Promise<number[]> {
    if (payloads.length === 0) return [];
    const values = await this.redis.mget(payloads.map((p) => `${this.prefix}:events:seq:${streamOf(topic, p)}`));
    return values.map((v) => Number(v ?? 0));
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
