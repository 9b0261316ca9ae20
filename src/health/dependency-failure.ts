import type { Dependency } from './dependency-check.js';

const REDIS_MESSAGES = [
  /^Connection is closed\.?$/,
  /^Stream isn't writeable/,
  /^Reached the max retries per request limit/,
];
const POSTGRES_MESSAGES = [
  /^Connection terminated/,
  /timeout exceeded when trying to connect/,
  /Client has encountered a connection error and is not queryable/,
  /the database system is (shutting down|starting up|in recovery mode)/,
  /terminating connection due to administrator command/,
];
// Postgres SQLSTATEs for a server that went away: connection exceptions (class 08) and operator intervention (57P0x).
const POSTGRES_CODES = /^(08\d{3}|57P0[1-3])$/;
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

export interface DependencyEndpoints {
  databasePort: number;
  redisPort: number;
}

export function endpointsOf(databaseUrl: string, redisUrl: string): DependencyEndpoints {
  return {
    databasePort: Number(new URL(databaseUrl).port || 5432),
    redisPort: Number(new URL(redisUrl).port || 6379),
  };
}

/**
 * Which dependency an unexpected error says is unreachable (the error itself, its cause, a driver error, each error of
 * an AggregateError), or null when it is about something else. Read from the error's shape: ioredis and pg name their
 * connection failures, and a bare network error names the port it failed on.
 */
export function failedDependency(err: unknown, endpoints: DependencyEndpoints, depth = 0): Dependency | null {
  if (typeof err !== 'object' || err === null || depth > 5) return null;
  const e = err as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    port?: unknown;
    cause?: unknown;
    driverError?: unknown;
    errors?: unknown;
  };
  const message = typeof e.message === 'string' ? e.message : '';
  if (e.name === 'MaxRetriesPerRequestError' || REDIS_MESSAGES.some((p) => p.test(message))) return 'redis';
  if (POSTGRES_MESSAGES.some((p) => p.test(message))) return 'database';
  if (typeof e.code === 'string' && POSTGRES_CODES.test(e.code)) return 'database';
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code) && typeof e.port === 'number') {
    if (e.port === endpoints.databasePort) return 'database';
    if (e.port === endpoints.redisPort) return 'redis';
  }
  const nested = [e.cause, e.driverError, ...(Array.isArray(e.errors) ? (e.errors as unknown[]) : [])];
  for (const inner of nested) {
    const found = failedDependency(inner, endpoints, depth + 1);
    if (found) return found;
  }
  return null;
}
