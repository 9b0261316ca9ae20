import type { IncomingMessage, ServerResponse } from 'node:http';

/** What the admission limiter allows on one replica (README, "Configuration": GRAPHQL_MAX_*). */
export interface AdmissionOptions {
  /** GraphQL operations executing at once (from admission until their answer is sent); 0: no limit. */
  maxConcurrent: number;
  /** Operations waiting for a slot, all callers together; one more is refused at once. */
  maxQueued: number;
  /** How long one may wait for a slot before it is refused. */
  queueTimeoutMs: number;
}

/** Why an operation was not admitted. */
export type Refusal = { kind: 'QUEUE_FULL' } | { kind: 'QUEUE_TIMEOUT'; waitedMs: number };

type Release = () => void;

/** What the limiter reports as it works (Prometheus, src/metrics/fleet-metrics.service.ts). */
export interface AdmissionObserver {
  /** An operation got a slot after waiting this long (0: at once). */
  admitted(waitedMs: number): void;
  refused(refusal: Refusal): void;
}

interface Waiter {
  admit(release: Release): void;
  refuse(refusal: Refusal): void;
  timer: NodeJS.Timeout | null;
}

/**
 * Bounded concurrent GraphQL executions per replica, the rest waiting asynchronously in a fair queue, as Kubernetes'
 * API Priority & Fairness protects node leases: a burst of heavy reads can only ever fill `maxConcurrent` slots of the
 * event loop, so the node protocol (never subject to this) is answered between them instead of behind all of them.
 * Waiting operations are grouped in flows (one per caller: its credentials, or its address) and a freed slot goes to
 * the flows in turn, so one client with many requests in flight cannot starve another with one.
 */
export class AdmissionLimiter {
  private running = 0;
  private waiting = 0;
  /** Flows with waiters, in turn order (a Map keeps insertion order; a served flow moves to the back). */
  private readonly flows = new Map<string, Waiter[]>();

  constructor(
    readonly options: AdmissionOptions,
    private readonly observer?: AdmissionObserver,
  ) {}

  get stats(): { running: number; waiting: number; flows: number } {
    return { running: this.running, waiting: this.waiting, flows: this.flows.size };
  }

  /**
   * Resolves with a release function once admitted (call it exactly once, when the answer is sent), or with a refusal.
   * `onCancel` lets the caller withdraw a waiting request (its client went away): it is dropped from the queue.
   */
  admit(flow: string, onCancel?: (cancel: () => void) => void): Promise<Release | Refusal> {
    if (this.options.maxConcurrent <= 0 || (this.running < this.options.maxConcurrent && this.waiting === 0)) {
      this.running++;
      this.observer?.admitted(0);
      return Promise.resolve(this.releaser());
    }
    if (this.waiting >= this.options.maxQueued) {
      const full: Refusal = { kind: 'QUEUE_FULL' };
      this.observer?.refused(full);
      return Promise.resolve(full);
    }
    return new Promise((resolve) => {
      const since = performance.now();
      const waiter: Waiter = {
        admit: (release) => {
          this.observer?.admitted(performance.now() - since);
          resolve(release);
        },
        refuse: (refusal) => {
          this.observer?.refused(refusal);
          resolve(refusal);
        },
        timer: null,
      };
      waiter.timer = setTimeout(() => {
        if (this.remove(flow, waiter))
          waiter.refuse({ kind: 'QUEUE_TIMEOUT', waitedMs: Math.round(performance.now() - since) });
      }, this.options.queueTimeoutMs);
      waiter.timer.unref();
      const queue = this.flows.get(flow);
      if (queue) queue.push(waiter);
      else this.flows.set(flow, [waiter]);
      this.waiting++;
      onCancel?.(() => {
        if (this.remove(flow, waiter)) clearTimeout(waiter.timer!);
      });
    });
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      this.next();
    };
  }

  /** Hands free slots to the flows in turn: the first flow's oldest waiter, then that flow goes to the back. */
  private next(): void {
    while (this.running < this.options.maxConcurrent && this.flows.size > 0) {
      const [flow, queue] = this.flows.entries().next().value as [string, Waiter[]];
      const waiter = queue.shift()!;
      this.flows.delete(flow);
      if (queue.length > 0) this.flows.set(flow, queue);
      this.waiting--;
      clearTimeout(waiter.timer!);
      this.running++;
      waiter.admit(this.releaser());
    }
  }

  private remove(flow: string, waiter: Waiter): boolean {
    const queue = this.flows.get(flow);
    const at = queue?.indexOf(waiter) ?? -1;
    if (!queue || at < 0) return false;
    queue.splice(at, 1);
    if (queue.length === 0) this.flows.delete(flow);
    this.waiting--;
    return true;
  }
}

/** The caller a request comes from, for fairness: its bearer key or session cookie, else its address. */
export function flowOf(req: IncomingMessage): string {
  const auth = req.headers.authorization;
  if (auth) return `a:${auth}`;
  const cookie = req.headers.cookie;
  if (cookie) return `c:${cookie}`;
  return `i:${req.socket.remoteAddress ?? ''}`;
}

/** The public code of a refused operation (extensions.code), with 503 and Retry-After. */
export const SERVER_BUSY = 'SERVER_BUSY';

/**
 * Express middleware for /graphql over HTTP (subscriptions over WebSocket are long-lived and not counted): admits each
 * operation through the limiter before its body is even read, and refuses with 503, Retry-After and a message naming
 * the limit when the queue is full or the wait too long.
 */
export function graphqlAdmission(limiter: AdmissionLimiter) {
  return function graphqlAdmission(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void {
    if (req.method !== 'POST' && req.method !== 'GET') return next();
    let cancel: (() => void) | null = null;
    const onClose = () => cancel?.();
    res.once('close', onClose);
    limiter
      .admit(flowOf(req), (c) => (cancel = c))
      .then((outcome) => {
        res.off('close', onClose);
        if (typeof outcome === 'function') {
          // Released once, when the answer is out or the client went away.
          if (res.writableFinished || res.destroyed) outcome();
          else {
            res.once('finish', outcome);
            res.once('close', outcome);
          }
          return next();
        }
        refuse(res, limiter.options, outcome);
      })
      .catch(next);
  };
}

function refuse(res: ServerResponse, options: AdmissionOptions, refusal: Refusal): void {
  if (res.headersSent || res.destroyed) return;
  const message =
    refusal.kind === 'QUEUE_FULL'
      ? `Server busy: ${options.maxConcurrent} GraphQL operations are running on this replica and ${options.maxQueued} ` +
        `are waiting (GRAPHQL_MAX_CONCURRENT, GRAPHQL_MAX_QUEUED); retry after the time in Retry-After`
      : `Server busy: this operation waited ${refusal.waitedMs} ms for one of the ${options.maxConcurrent} GraphQL ` +
        `slots of this replica (GRAPHQL_QUEUE_TIMEOUT_MS = ${options.queueTimeoutMs}); retry after the time in Retry-After`;
  const retryAfterSeconds = refusal.kind === 'QUEUE_FULL' ? 1 : Math.max(1, Math.ceil(options.queueTimeoutMs / 4000));
  const body = JSON.stringify({
    errors: [
      {
        message,
        extensions: {
          code: SERVER_BUSY,
          reason: refusal.kind,
          retryAfterSeconds,
          maxConcurrent: options.maxConcurrent,
          maxQueued: options.maxQueued,
        },
      },
    ],
  });
  res.writeHead(503, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'retry-after': String(retryAfterSeconds),
  });
  res.end(body);
}
