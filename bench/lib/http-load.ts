import { Worker } from 'node:worker_threads';

/** Keep `concurrency` POSTs in flight on keep-alive connections for `durationMs`. */
export interface DurationCommand {
  kind: 'duration';
  url: string;
  body: string;
  /** Extra request headers (the API key). */
  headers?: Record<string, string>;
  concurrency: number;
  durationMs: number;
  /** When set, every occurrence of it in `body` is replaced by a number unique to each request (one cache key each). */
  uniqueToken?: string;
}

/** Send `count` POSTs at once, each on its own connection, and wait for every answer. */
export interface BurstCommand {
  kind: 'burst';
  url: string;
  body: string;
  headers?: Record<string, string>;
  count: number;
}

export type LoadCommand = DurationCommand | BurstCommand;

export interface DurationReply {
  kind: 'duration';
  requests: number;
  /** Non-200 answers, bodies with GraphQL errors, and transport errors. */
  errors: number;
  firstError: string | null;
  elapsedMs: number;
  latenciesMs: number[];
  responseBytes: number;
}

export interface BurstReply {
  kind: 'burst';
  elapsedMs: number;
  latenciesMs: number[];
  statuses: number[];
  bodies: string[];
  transportErrors: string[];
}

export type LoadReply = DurationReply | BurstReply | { kind: 'failed'; error: string };

/**
 * A GraphQL-over-HTTP load generator in a worker thread with plain node:http, so the client's own work runs on the
 * other core instead of the server's event loop (the control plane runs in this process, on the main thread).
 */
export class HttpLoad {
  private constructor(private readonly worker: Worker) {}

  static start(): HttpLoad {
    return new HttpLoad(new Worker(new URL('./http-load.worker.js', import.meta.url)));
  }

  duration(command: Omit<DurationCommand, 'kind'>): Promise<DurationReply> {
    return this.call({ kind: 'duration', ...command }, 'duration');
  }

  burst(command: Omit<BurstCommand, 'kind'>): Promise<BurstReply> {
    return this.call({ kind: 'burst', ...command }, 'burst');
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private call<K extends 'duration' | 'burst'>(
    command: LoadCommand,
    kind: K,
  ): Promise<Extract<LoadReply, { kind: K }>> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.worker.once('error', onError);
      this.worker.once('message', (reply: LoadReply) => {
        this.worker.off('error', onError);
        if (reply.kind === 'failed') reject(new Error(`load worker: ${reply.error}`));
        else if (reply.kind !== kind) reject(new Error(`load worker answered ${reply.kind} to ${kind}`));
        else resolve(reply as Extract<LoadReply, { kind: K }>);
      });
      this.worker.postMessage(command);
    });
  }
}
