import { Inject, Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { HfHubClient } from './hf-hub.client.js';
import { HfError, HfErrorReason } from './hf.errors.js';
import type { HfModelInfo, HfStatsValue } from './hf.types.js';

interface StatsEntry {
  kind: 'stats';
  downloads: number;
  likes: number;
  lastModified: Date | null;
  fetchedAt: Date;
  /** Set when the last refresh failed and these numbers are the previous ones. */
  refreshError?: HfError;
}

/** Remembered for a short while so a repo the Hub refuses is not asked for again by every query. */
interface FailureEntry {
  kind: 'failure';
  error: HfError;
}

type Entry = StatsEntry | FailureEntry;

/** A failed fetch is retried after a tenth of the TTL, at most this long (or when the rate limit resets). */
const MAX_RETRY_DELAY_MS = 30_000;

function statsOf(info: HfModelInfo, fetchedAt: Date): StatsEntry {
  return { kind: 'stats', downloads: info.downloads, likes: info.likes, lastModified: info.lastModified, fetchedAt };
}

function toValue(entry: StatsEntry, stale: boolean): HfStatsValue {
  return {
    downloads: entry.downloads,
    likes: entry.likes,
    lastModified: entry.lastModified,
    stale: stale || entry.refreshError !== undefined,
    fetchedAt: entry.fetchedAt,
  };
}

function toHfError(err: unknown, repo: string): HfError {
  if (err instanceof HfError) return err;
  const why = err instanceof Error ? err.message : String(err);
  return new HfError(HfErrorReason.UPSTREAM_ERROR, `Fetching Hub stats for ${repo} failed: ${why}`, { repo });
}

/** Resolves to undefined when `promise` has not settled within `ms`; the promise keeps going. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ms), undefined);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Downloads, likes and last-modified of Hub repos, cached per repo: one upstream call per repo however many ask at
 * once, stale-while-revalidate after the TTL, the previous numbers (marked stale) when a refresh fails.
 */
@Injectable()
export class HfStatsService {
  private readonly cache: LRUCache<string, Entry>;
  private readonly waitMs: number;
  private readonly retryDelayMs: number;
  private readonly changeListeners: Array<() => void> = [];

  constructor(
    private readonly client: HfHubClient,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.waitMs = config.HF_STATS_WAIT_MS;
    this.retryDelayMs = Math.min(MAX_RETRY_DELAY_MS, Math.max(1, Math.floor(config.HF_STATS_TTL_MS / 10)));
    this.cache = new LRUCache<string, Entry>({
      max: config.HF_STATS_CACHE_SIZE,
      ttl: config.HF_STATS_TTL_MS,
      allowStale: true,
      // The fetchMethod turns failures into entries, so these only guard against a rejection we did not foresee.
      allowStaleOnFetchRejection: true,
      noDeleteOnFetchRejection: true,
      fetchMethod: async (repo, stale, { options }) => {
        try {
          const entry = statsOf(await this.client.modelInfo(repo), new Date());
          this.notifyChange();
          return entry;
        } catch (err) {
          const error = toHfError(err, repo);
          options.ttl = this.failureTtl(error);
          return stale?.kind === 'stats' ? { ...stale, refreshError: error } : { kind: 'failure', error };
        }
      },
    });
  }

  /**
   * Never throws. Fresh stats; or the previous ones with `stale: true` (a refresh is due or failed; a due refresh
   * runs in the background); or null when nothing is known and the fetch failed or did not finish within `waitMs`
   * (default HF_STATS_WAIT_MS; the fetch goes on and fills the cache).
   */
  async getStats(repo: string, opts: { waitMs?: number } = {}): Promise<HfStatsValue | null> {
    const waitMs = opts.waitMs ?? this.waitMs;
    const deadline = Date.now() + waitMs;
    try {
      const status: LRUCache.Status<string, Entry> = {};
      let entry = await within(this.cache.fetch(repo, { status }), waitMs);
      if (entry?.kind === 'failure' && status.returnedStale) {
        // An old failure came back at once while its retry runs: give that retry the rest of the wait.
        entry = await within(this.cache.fetch(repo, { allowStale: false }), deadline - Date.now());
      }
      return entry?.kind === 'stats' ? toValue(entry, status.returnedStale === true) : null;
    } catch {
      return null;
    }
  }

  /**
   * getStats for many repos with one shared wait: fresh cached figures are answered synchronously (no timer, no
   * promise per repo), the rest are fetched together and waited for once.
   */
  async getMany(repos: readonly string[], opts: { waitMs?: number } = {}): Promise<Map<string, HfStatsValue | null>> {
    const result = new Map<string, HfStatsValue | null>();
    const missing: string[] = [];
    for (const repo of repos) {
      if (result.has(repo)) continue;
      const fresh = this.cache.getRemainingTTL(repo) > 0 ? this.cache.get(repo) : undefined;
      if (fresh?.kind === 'stats' && !fresh.refreshError) result.set(repo, toValue(fresh, false));
      else {
        result.set(repo, null);
        missing.push(repo);
      }
    }
    if (missing.length) {
      const values = await Promise.all(missing.map((repo) => this.getStats(repo, opts)));
      missing.forEach((repo, i) => result.set(repo, values[i] ?? null));
    }
    return result;
  }

  /** Like getStats but waits for the Hub and throws the HfError that says why there are no stats. */
  async getStatsStrict(repo: string): Promise<HfStatsValue> {
    const entry = await this.cache.fetch(repo, { allowStale: false });
    if (entry === undefined) {
      throw new HfError(HfErrorReason.UPSTREAM_ERROR, `No Hub stats could be fetched for ${repo}; retry later`, {
        repo,
      });
    }
    if (entry.kind === 'failure') throw entry.error;
    return toValue(entry, false);
  }

  /** Seeds the cache from a modelInfo the caller already fetched (registration does), saving a Hub call. */
  prime(repo: string, info: HfModelInfo): void {
    this.cache.set(repo, statsOf(info, new Date()));
    this.notifyChange();
  }

  /** Called whenever some repo's figures change (a fetch completed, or a registration primed them). */
  onChange(listener: () => void): void {
    this.changeListeners.push(listener);
  }

  private notifyChange(): void {
    // After the cache entry is in place: a listener that re-reads must see the new figures.
    queueMicrotask(() => this.changeListeners.forEach((l) => l()));
  }

  private failureTtl(error: HfError): number {
    const retryAfterMs = (error.retryAfterSeconds ?? 0) * 1000;
    return Math.max(this.retryDelayMs, retryAfterMs);
  }
}
