import { Logger } from '@nestjs/common';
import { Redis, type RedisOptions } from 'ioredis';
import { redactUrl } from '../common/redact-url.js';
import { describeRedisError } from '../health/dependency-check.js';

const logger = new Logger('Redis');
/** URLs whose outage has been reported: one line when Redis goes away and one when it is back, whatever the clients. */
const reportedDown = new Set<string>();

/**
 * An ioredis client that never prints "Unhandled error event" stack traces: a lost connection is logged once per
 * outage (URL without its password), ioredis reconnects with a capped backoff, and `onStatus` hears each change.
 */
export function createRedisClient(
  url: string,
  options: RedisOptions = {},
  onStatus?: (up: boolean, reason: string | null) => void,
): Redis {
  const client = new Redis(url, {
    // Reconnect quickly at first, then every 2 s at most, forever: Redis coming back is picked up within seconds.
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    connectTimeout: 5000,
    ...options,
  });
  client.on('error', (err: Error) => {
    onStatus?.(false, describeRedisError(err));
    reportRedisError(url, err);
  });
  client.on('close', () => onStatus?.(false, 'connection closed'));
  client.on('ready', () => {
    onStatus?.(true, null);
    reportRedisBack(url);
  });
  return client;
}

/** Logs that Redis at `url` is unreachable, once per outage whichever client (ours, BullMQ's) hit it. */
export function reportRedisError(url: string, err: unknown): void {
  if (reportedDown.has(url)) return;
  reportedDown.add(url);
  logger.warn(`Redis at ${redactUrl(url)} is unreachable (${describeRedisError(err)}); reconnecting until it is back`);
}

export function reportRedisBack(url: string): void {
  if (reportedDown.delete(url)) logger.log(`Redis at ${redactUrl(url)} is reachable again`);
}
