import type { HubRoute } from './faults.js';
import type { Headers } from './bytes.js';

/** The Hub counts API calls and resolves separately ("api", "resolvers"); the CDN is not the Hub and sends none. */
export type RateBucket = 'api' | 'resolvers';

export const bucketOf = (route: HubRoute): RateBucket | null =>
  route === 'cdn' ? null : route === 'api' ? 'api' : 'resolvers';

const WINDOW_SECONDS = 300;

/** Fixed 5-minute windows per bucket, as the Hub's `RateLimit` / `RateLimit-Policy` headers describe them. */
export class RateWindow {
  private start = Date.now();
  private readonly used: Record<RateBucket, number> = { api: 0, resolvers: 0 };

  constructor(private readonly quota: Record<RateBucket, number>) {}

  /** Seconds until the window resets (starting a new one when it has passed). */
  resetIn(): number {
    const elapsed = (Date.now() - this.start) / 1000;
    if (elapsed < WINDOW_SECONDS) return Math.max(1, Math.ceil(WINDOW_SECONDS - elapsed));
    this.start = Date.now();
    this.used.api = 0;
    this.used.resolvers = 0;
    return WINDOW_SECONDS;
  }

  /** Counts one request; true when it goes over the quota. */
  take(bucket: RateBucket): boolean {
    this.resetIn();
    this.used[bucket] += 1;
    return this.used[bucket] > this.quota[bucket];
  }

  headers(bucket: RateBucket): Headers {
    const remaining = Math.max(0, this.quota[bucket] - this.used[bucket]);
    return {
      RateLimit: `"${bucket}";r=${remaining};t=${this.resetIn()}`,
      'RateLimit-Policy': `"fixed window";"${bucket}";q=${this.quota[bucket]};w=${WINDOW_SECONDS}`,
    };
  }
}
