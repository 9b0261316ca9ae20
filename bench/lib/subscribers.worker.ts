import { createClient, type Client } from 'graphql-ws';
import { parentPort } from 'node:worker_threads';
import WebSocket from 'ws';
import { nowMs, sleep } from './stats.js';
import type { OpenCommand, SubscriberCommand, SubscriberReply } from './subscribers.js';

interface EventData {
  modelStatusChanged?: { seq: number; modelId: string; timestamp: string };
}

interface Subscriber {
  client: Client;
  live: boolean;
  seen: Set<number>;
}

const SUBSCRIPTION =
  'subscription { modelStatusChanged { seq timestamp modelId status progress nodeId lifecycleStatus } }';
const CONNECT_TIMEOUT_MS = 10_000;

const port = parentPort;
if (!port) throw new Error('subscribers.worker must run in a worker thread');

let subscribers: Subscriber[] = [];
let seqs: number[] = [];
let receivedAt: number[] = [];
let duplicates = 0;
let errors = 0;
let firstError: string | null = null;

function fail(why: string): void {
  errors += 1;
  firstError ??= why;
}

/** Connects one client and subscribes; resolves once the server acknowledged the connection. */
function connect(cmd: OpenCommand): Promise<Subscriber> {
  return new Promise((resolve, reject) => {
    let acknowledged = false;
    const giveUp = (err: Error): void => {
      if (acknowledged) return;
      clearTimeout(timer);
      void Promise.resolve(client.dispose()).catch(() => undefined);
      reject(err);
    };
    const timer = setTimeout(() => giveUp(new Error('connection not acknowledged in time')), CONNECT_TIMEOUT_MS);
    const client = createClient({
      url: cmd.url,
      webSocketImpl: WebSocket,
      connectionParams: cmd.connectionParams,
      retryAttempts: 0,
      lazy: false,
      on: {
        connected: () => {
          acknowledged = true;
          clearTimeout(timer);
          resolve(sub);
        },
        error: (err) => giveUp(err instanceof Error ? err : new Error(String(err))),
      },
    });
    const sub: Subscriber = { client, live: false, seen: new Set() };
    client.subscribe<EventData>(
      { query: SUBSCRIPTION },
      {
        next: (msg) => {
          const at = nowMs();
          const event = msg.data?.modelStatusChanged;
          if (msg.errors) fail(JSON.stringify(msg.errors));
          if (!event) return;
          if (event.modelId === cmd.probeModelId) {
            sub.live = true;
          } else if (event.modelId === cmd.measuredModelId) {
            if (sub.seen.has(event.seq)) {
              duplicates += 1;
              return;
            }
            sub.seen.add(event.seq);
            seqs.push(event.seq);
            receivedAt.push(at);
          }
        },
        error: (err) => fail(err instanceof Error ? err.message : JSON.stringify(err)),
        complete: () => undefined,
      },
    );
  });
}

async function open(cmd: OpenCommand): Promise<SubscriberReply> {
  const start = performance.now();
  let failed = 0;
  let openError: string | null = null;
  for (let first = 0; first < cmd.count; first += cmd.batch) {
    const size = Math.min(cmd.batch, cmd.count - first);
    const results = await Promise.allSettled(Array.from({ length: size }, () => connect(cmd)));
    for (const r of results) {
      if (r.status === 'fulfilled') subscribers.push(r.value);
      else {
        failed += 1;
        openError ??= String(r.reason);
      }
    }
  }
  return {
    kind: 'open',
    connected: subscribers.length,
    failed,
    firstError: openError,
    elapsedMs: performance.now() - start,
  };
}

async function collect(expected: number, timeoutMs: number): Promise<SubscriberReply> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline && subscribers.some((s) => s.seen.size < expected)) await sleep(50);
  return {
    kind: 'collect',
    perSubscriber: subscribers.map((s) => s.seen.size),
    duplicates,
    errors,
    firstError,
    seqs: Float64Array.from(seqs),
    receivedAt: Float64Array.from(receivedAt),
  };
}

function reset(): SubscriberReply {
  for (const s of subscribers) s.seen.clear();
  seqs = [];
  receivedAt = [];
  duplicates = 0;
  errors = 0;
  firstError = null;
  return { kind: 'reset' };
}

async function close(): Promise<SubscriberReply> {
  const start = performance.now();
  await Promise.all(subscribers.map(async (s) => s.client.dispose()));
  subscribers = [];
  seqs = [];
  receivedAt = [];
  duplicates = 0;
  errors = 0;
  firstError = null;
  return { kind: 'close', elapsedMs: performance.now() - start };
}

async function handle(cmd: SubscriberCommand): Promise<SubscriberReply> {
  switch (cmd.kind) {
    case 'open':
      return open(cmd);
    case 'probe-status':
      return { kind: 'probe-status', live: subscribers.filter((s) => s.live).length };
    case 'collect':
      return collect(cmd.expected, cmd.timeoutMs);
    case 'reset':
      return reset();
    case 'close':
      return close();
  }
}

port.on('message', (cmd: SubscriberCommand) => {
  handle(cmd).then(
    (reply) => port.postMessage(reply),
    (err: unknown) => port.postMessage({ kind: 'failed', error: String(err) } satisfies SubscriberReply),
  );
});
