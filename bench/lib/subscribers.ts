import { Worker } from 'node:worker_threads';

export interface OpenCommand {
  kind: 'open';
  /** ws://host:port/graphql */
  url: string;
  /** graphql-ws connection_init payload (the API key). */
  connectionParams?: Record<string, string>;
  count: number;
  /** Connections opened at a time; the next batch starts once this one is acknowledged. */
  batch: number;
  /** Events whose modelId is this only tell that a subscription is live. */
  probeModelId: string;
  /** Events whose modelId is this are the measured ones. */
  measuredModelId: string;
}

export type SubscriberCommand =
  | OpenCommand
  | { kind: 'probe-status' }
  | { kind: 'collect'; expected: number; timeoutMs: number }
  | { kind: 'reset' }
  | { kind: 'close' };

export type SubscriberReply =
  | { kind: 'open'; connected: number; failed: number; firstError: string | null; elapsedMs: number }
  | { kind: 'probe-status'; live: number }
  | {
      kind: 'collect';
      /** Distinct measured events each subscriber received. */
      perSubscriber: number[];
      duplicates: number;
      errors: number;
      firstError: string | null;
      /** Parallel arrays: the seq of each receipt and when it arrived (nowMs()). */
      seqs: Float64Array;
      receivedAt: Float64Array;
    }
  | { kind: 'reset' }
  | { kind: 'close'; elapsedMs: number }
  | { kind: 'failed'; error: string };

type Kind = SubscriberReply['kind'];

/** graphql-ws subscribers (one WebSocket each) in a worker thread, so their parsing stays off the server's event loop. */
export class Subscribers {
  private constructor(private readonly worker: Worker) {}

  static start(): Subscribers {
    return new Subscribers(new Worker(new URL('./subscribers.worker.js', import.meta.url)));
  }

  open(command: Omit<OpenCommand, 'kind'>): Promise<Extract<SubscriberReply, { kind: 'open' }>> {
    return this.call({ kind: 'open', ...command }, 'open');
  }

  async live(): Promise<number> {
    return (await this.call({ kind: 'probe-status' }, 'probe-status')).live;
  }

  collect(expected: number, timeoutMs: number): Promise<Extract<SubscriberReply, { kind: 'collect' }>> {
    return this.call({ kind: 'collect', expected, timeoutMs }, 'collect');
  }

  /** Forgets the measured events received so far (the connections stay open), so the next run is counted alone. */
  async reset(): Promise<void> {
    await this.call({ kind: 'reset' }, 'reset');
  }

  /** Disposes every client (each closes its WebSocket). */
  close(): Promise<Extract<SubscriberReply, { kind: 'close' }>> {
    return this.call({ kind: 'close' }, 'close');
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }

  private call<K extends Kind>(command: SubscriberCommand, kind: K): Promise<Extract<SubscriberReply, { kind: K }>> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.worker.once('error', onError);
      this.worker.once('message', (reply: SubscriberReply) => {
        this.worker.off('error', onError);
        if (reply.kind === 'failed') reject(new Error(`subscriber worker: ${reply.error}`));
        else if (reply.kind !== kind) reject(new Error(`subscriber worker answered ${reply.kind} to ${kind}`));
        else resolve(reply as Extract<SubscriberReply, { kind: K }>);
      });
      this.worker.postMessage(command);
    });
  }
}
