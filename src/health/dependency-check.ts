import pg from 'pg';
import { Redis } from 'ioredis';
import { redactUrl } from '../common/redact-url.js';

export type Dependency = 'database' | 'redis';

export const DEPENDENCY_LABEL: Record<Dependency, string> = { database: 'Postgres', redis: 'Redis' };

/** null when Postgres answers at `url` (a database that does not exist yet counts: start-up creates it), else why not. */
export async function probePostgres(url: string, timeoutMs: number): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  // A connection the server drops after the handshake must not crash the process with an unhandled 'error'.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (err) {
    if ((err as { code?: string }).code === '3D000') return null;
    return describePostgresError(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** null when Redis answers PING at `url`, else why not. One connection attempt, no retries, no stray error events. */
export async function probeRedis(url: string, timeoutMs: number): Promise<string | null> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  let lastError: unknown = null;
  client.on('error', (err) => {
    lastError = err;
  });
  try {
    await client.connect();
    await client.ping();
    return null;
  } catch (err) {
    return describeRedisError(lastError ?? err);
  } finally {
    client.disconnect();
  }
}

/** The reason an ioredis error gives, in a few words. */
export function describeRedisError(err: unknown): string {
  return describeConnectionError(err);
}

export function describePostgresError(err: unknown): string {
  return describeConnectionError(err);
}

function describeConnectionError(err: unknown): string {
  if (typeof err !== 'object' || err === null) return String(err);
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof message === 'string' && message !== '') return message;
  return typeof code === 'string' ? code : 'unknown error';
}

export interface DependencyWaitOptions {
  databaseUrl: string;
  redisUrl: string;
  /** How long to keep trying before giving up (0: one try). */
  waitMs: number;
  /** One line per event: a dependency down, back, or given up on. */
  log: (line: string) => void;
  signal?: AbortSignal;
  /** Each probe's own timeout. */
  probeTimeoutMs?: number;
}

export class DependencyUnavailableError extends Error {
  constructor(
    readonly down: Array<{ dependency: Dependency; url: string; reason: string }>,
    waitedMs: number,
  ) {
    super(
      down
        .map(
          (d) =>
            `${DEPENDENCY_LABEL[d.dependency]} at ${redactUrl(d.url)} is unreachable (${d.reason})${waitedMs > 0 ? ` after ${Math.round(waitedMs / 1000)} s of retries` : ''}; giving up`,
        )
        .join('\n'),
    );
    this.name = 'DependencyUnavailableError';
  }
}

/**
 * Waits until Postgres and Redis both answer, retrying with backoff (0.5 s doubling to 5 s) for up to `waitMs`. Says
 * once which one is unreachable (its URL without the password) and once when it is back; throws
 * DependencyUnavailableError when time is up, and stops at once when `signal` aborts.
 */
export async function waitForDependencies(opts: DependencyWaitOptions): Promise<void> {
  const started = Date.now();
  const timeoutMs = opts.probeTimeoutMs ?? 3000;
  const urls: Record<Dependency, string> = { database: opts.databaseUrl, redis: opts.redisUrl };
  const reported = new Set<Dependency>();
  let delayMs = 500;
  for (;;) {
    const [database, redis] = await Promise.all([
      probePostgres(urls.database, timeoutMs),
      probeRedis(urls.redis, timeoutMs),
    ]);
    opts.signal?.throwIfAborted();
    const reasons: Record<Dependency, string | null> = { database, redis };
    const down = (Object.keys(reasons) as Dependency[]).flatMap((dependency) => {
      const reason = reasons[dependency];
      return reason === null ? [] : [{ dependency, url: urls[dependency], reason }];
    });
    for (const dependency of reported) {
      if (reasons[dependency] === null) {
        opts.log(`${DEPENDENCY_LABEL[dependency]} at ${redactUrl(urls[dependency])} is reachable`);
        reported.delete(dependency);
      }
    }
    if (down.length === 0) return;
    const elapsed = Date.now() - started;
    const left = opts.waitMs - elapsed;
    if (left <= 0) throw new DependencyUnavailableError(down, opts.waitMs > 0 ? elapsed : 0);
    for (const d of down) {
      if (reported.has(d.dependency)) continue;
      reported.add(d.dependency);
      opts.log(
        `${DEPENDENCY_LABEL[d.dependency]} at ${redactUrl(d.url)} is unreachable (${d.reason}); retrying for up to ${Math.ceil(left / 1000)} s (DEPENDENCY_WAIT_MS)`,
      );
    }
    await sleep(Math.min(delayMs, left), opts.signal);
    delayMs = Math.min(delayMs * 2, 5000);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort(): void {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    }
    signal?.addEventListener('abort', abort, { once: true });
  });
}
