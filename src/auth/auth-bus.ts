import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Redis } from 'ioredis';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { createRedisClient } from '../events/redis-client.js';
import { REDIS } from '../events/redis.tokens.js';

/** What one replica tells the others so that no cache or open socket outlives a revocation. */
export type AuthBusMessage = { type: 'key-revoked'; keyId: string } | { type: 'session-ended'; tokenHash: string };

/**
 * A Redis channel between replicas for revocations. Not the GraphQL PubSub: these messages are for the auth layer of
 * every replica, never for clients. Each replica also applies its own messages at once, before publishing.
 */
@Injectable()
export class AuthBus implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(AuthBus.name);
  private readonly subscriber: Redis;
  private readonly channel: string;
  private readonly listeners: Array<(message: AuthBusMessage) => void> = [];

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(REDIS) private readonly redis: Redis,
  ) {
    this.channel = `${config.REDIS_PREFIX}:auth`;
    this.subscriber = createRedisClient(config.REDIS_URL, { maxRetriesPerRequest: null });
  }

  async onModuleInit(): Promise<void> {
    this.subscriber.on('message', (channel: string, raw: string) => {
      if (channel !== this.channel) return;
      try {
        this.deliver(JSON.parse(raw) as AuthBusMessage);
      } catch (err) {
        this.logger.error(`Unreadable auth message: ${(err as Error).message}`);
      }
    });
    // ioredis re-subscribes by itself after a reconnect; while Redis is away, cache TTLs bound staleness.
    await this.subscriber.subscribe(this.channel).catch((err: unknown) => {
      this.logger.error(`Could not subscribe to revocations: ${(err as Error).message}`);
    });
  }

  onMessage(listener: (message: AuthBusMessage) => void): void {
    this.listeners.push(listener);
  }

  /** Applies the message here at once, then tells the other replicas (a lost message is bounded by cache TTLs). */
  async publish(message: AuthBusMessage): Promise<void> {
    this.deliver(message);
    try {
      await this.redis.publish(this.channel, JSON.stringify(message));
    } catch (err) {
      this.logger.error(`Could not tell other replicas about ${message.type}: ${(err as Error).message}`);
    }
  }

  onApplicationShutdown(): void {
    this.subscriber.disconnect();
  }

  private deliver(message: AuthBusMessage): void {
    for (const listener of this.listeners) listener(message);
  }
}
