/** Which part of the Hub a request hit: its JSON API, the resolve endpoint, or the CDN that serves LFS bytes. */
export type HubRoute = 'api' | 'resolve' | 'cdn';
export type RouteScope = HubRoute | 'all';

export interface FailRule {
  route: RouteScope;
  repo?: string;
  status: number;
  /** How many matching requests fail; default every one until reset(). */
  times?: number;
  /** For 429: the reset time sent in `RateLimit` (t=) and `Retry-After`. Default 60. */
  retryAfterSeconds?: number;
}

export interface DelayRule {
  route: RouteScope;
  repo?: string;
  ms: number;
  times?: number;
}

export interface TruncateRule {
  repo?: string;
  file?: string;
  /** The socket closes once the body reaches this offset of the file (a resume past it goes through). */
  bytes: number;
  times?: number;
}

export interface CorruptRule {
  repo: string;
  file: string;
  /** First corrupted byte; default the last `length` bytes of the file (tensor data in a GGUF: it still loads). */
  offset?: number;
  /** Default 16. */
  length?: number;
}

interface Counted {
  remaining: number;
}

const matches = (rule: { route: RouteScope; repo?: string }, route: HubRoute, repo: string | null): boolean =>
  (rule.route === 'all' || rule.route === route) && (rule.repo === undefined || rule.repo === repo);

function take<T extends Counted>(rules: T[], pick: (rule: T) => boolean): T | undefined {
  const rule = rules.find((r) => r.remaining > 0 && pick(r));
  if (rule) rule.remaining -= 1;
  return rule;
}

/** The faults a test has injected; reset() clears them all. */
export class FaultState {
  private fails: (FailRule & Counted)[] = [];
  private delays: (DelayRule & Counted)[] = [];
  private truncations: (TruncateRule & Counted)[] = [];
  private corruptions: CorruptRule[] = [];
  bytesPerSecond: number | null = null;
  ignoreRange = false;
  cdnExpired = false;

  addFail(rule: FailRule): void {
    this.fails.push({ ...rule, remaining: rule.times ?? Infinity });
  }

  addDelay(rule: DelayRule): void {
    this.delays.push({ ...rule, remaining: rule.times ?? Infinity });
  }

  addTruncation(rule: TruncateRule): void {
    this.truncations.push({ ...rule, remaining: rule.times ?? Infinity });
  }

  addCorruption(rule: CorruptRule): void {
    this.corruptions.push(rule);
  }

  takeFail(route: HubRoute, repo: string | null): FailRule | undefined {
    return take(this.fails, (r) => matches(r, route, repo));
  }

  takeDelay(route: HubRoute, repo: string | null): number {
    return take(this.delays, (r) => matches(r, route, repo))?.ms ?? 0;
  }

  /** Bytes of a body starting at file offset `start` to send before closing the socket; undefined to send it all. */
  takeTruncation(repo: string, file: string, start: number): number | undefined {
    const rule = take(
      this.truncations,
      (r) => (r.repo === undefined || r.repo === repo) && (r.file === undefined || r.file === file) && start < r.bytes,
    );
    return rule ? rule.bytes - start : undefined;
  }

  /** The bytes to serve for `[start, start + body.length)` of the file, corrupted where a rule says so. */
  apply(repo: string, file: string, size: number, start: number, body: Buffer): Buffer {
    let out = body;
    for (const rule of this.corruptions) {
      if (rule.repo !== repo || rule.file !== file) continue;
      const length = rule.length ?? 16;
      const from = rule.offset ?? Math.max(0, size - length);
      const lo = Math.max(from, start);
      const hi = Math.min(from + length, start + body.length);
      if (lo >= hi) continue;
      if (out === body) out = Buffer.from(body);
      for (let i = lo; i < hi; i += 1) out[i - start] = (out[i - start] ?? 0) ^ 0xff;
    }
    return out;
  }

  clear(): void {
    this.fails = [];
    this.delays = [];
    this.truncations = [];
    this.corruptions = [];
    this.bytesPerSecond = null;
    this.ignoreRange = false;
    this.cdnExpired = false;
  }
}
