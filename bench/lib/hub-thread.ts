import { Worker } from 'node:worker_threads';

export interface HubThreadOptions {
  repos: number;
  /** Delay of every API answer, as a remote Hub's round trip. */
  apiDelayMs: number;
}

export type HubThreadCommand = { kind: 'api-calls'; since: number } | { kind: 'stop' };

export type HubThreadReply =
  | { kind: 'started'; url: string; catalogPath: string; modelIds: string[]; repos: string[] }
  /** The repo of every API request received from index `since` of the request log on, and the log's length. */
  | { kind: 'api-calls'; repos: Array<string | null>; length: number }
  | { kind: 'stop' }
  | { kind: 'failed'; error: string };

type Kind = HubThreadReply['kind'];

/**
 * The local Hub (FakeHub with a catalog of distinct repos) in a worker thread: its work stays off the control plane's
 * event loop, as a remote Hub's would. Only the client side of each Hub call runs in the server's thread.
 */
export class HubThread {
  private constructor(
    private readonly worker: Worker,
    readonly url: string,
    readonly catalogPath: string,
    readonly modelIds: string[],
    readonly repos: string[],
  ) {}

  static async start(options: HubThreadOptions): Promise<HubThread> {
    const worker = new Worker(new URL('./hub-thread.worker.js', import.meta.url), { workerData: options });
    const reply = await next(worker, 'started');
    return new HubThread(worker, reply.url, reply.catalogPath, reply.modelIds, reply.repos);
  }

  /** Length of the Hub's request log: pass it to apiCalls() to see what came after. */
  async mark(): Promise<number> {
    return (await this.call({ kind: 'api-calls', since: Number.MAX_SAFE_INTEGER }, 'api-calls')).length;
  }

  /** The repo of each API call the Hub received since `mark`. */
  async apiCalls(since: number): Promise<Array<string | null>> {
    return (await this.call({ kind: 'api-calls', since }, 'api-calls')).repos;
  }

  /** Stops the Hub, removes the catalog file, ends the thread. */
  async stop(): Promise<void> {
    await this.call({ kind: 'stop' }, 'stop');
    await this.worker.terminate();
  }

  private call<K extends Kind>(command: HubThreadCommand, kind: K): Promise<Extract<HubThreadReply, { kind: K }>> {
    const reply = next(this.worker, kind);
    this.worker.postMessage(command);
    return reply;
  }
}

function next<K extends Kind>(worker: Worker, kind: K): Promise<Extract<HubThreadReply, { kind: K }>> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    worker.once('error', onError);
    worker.once('message', (reply: HubThreadReply) => {
      worker.off('error', onError);
      if (reply.kind === 'failed') reject(new Error(`hub thread: ${reply.error}`));
      else if (reply.kind !== kind) reject(new Error(`hub thread answered ${reply.kind}, expected ${kind}`));
      else resolve(reply as Extract<HubThreadReply, { kind: K }>);
    });
  });
}
