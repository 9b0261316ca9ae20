import { Agent, request } from 'node:http';
import { parentPort } from 'node:worker_threads';
import type { BurstCommand, BurstReply, DurationCommand, DurationReply, LoadCommand, LoadReply } from './http-load.js';

interface Answer {
  status: number;
  body: string;
}

const port = parentPort;
if (!port) throw new Error('http-load.worker must run in a worker thread');

/** One keep-alive pool per concurrency, kept across commands so measured phases reuse warm connections. */
const pools = new Map<number, Agent>();

function pool(size: number): Agent {
  let agent = pools.get(size);
  if (!agent) {
    agent = new Agent({ keepAlive: true, maxSockets: size, maxFreeSockets: size });
    pools.set(size, agent);
  }
  return agent;
}

function post(url: URL, body: Buffer, agent: Agent, extra: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': body.length, ...extra },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function duration(cmd: DurationCommand): Promise<DurationReply> {
  const url = new URL(cmd.url);
  const fixed = Buffer.from(cmd.body);
  const parts = cmd.uniqueToken ? cmd.body.split(cmd.uniqueToken) : null;
  let sent = 0;
  const nextBody = (): Buffer => (parts ? Buffer.from(parts.join(String((sent += 1)))) : fixed);
  const agent = pool(cmd.concurrency);
  const latenciesMs: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  let responseBytes = 0;
  const start = performance.now();
  const end = start + cmd.durationMs;
  const loop = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        const answer = await post(url, nextBody(), agent, cmd.headers);
        latenciesMs.push(performance.now() - t0);
        responseBytes = answer.body.length;
        if (answer.status !== 200 || answer.body.includes('"errors"')) {
          errors += 1;
          firstError ??= `${answer.status} ${answer.body.slice(0, 300)}`;
        }
      } catch (err) {
        errors += 1;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: cmd.concurrency }, loop));
  const elapsedMs = performance.now() - start;
  return { kind: 'duration', requests: latenciesMs.length, errors, firstError, elapsedMs, latenciesMs, responseBytes };
}

async function burst(cmd: BurstCommand): Promise<BurstReply> {
  const url = new URL(cmd.url);
  const body = Buffer.from(cmd.body);
  // One connection per request, as that many separate clients would have.
  const agent = new Agent({ keepAlive: false, maxSockets: cmd.count });
  const latenciesMs: number[] = [];
  const statuses: number[] = [];
  const bodies: string[] = [];
  const transportErrors: string[] = [];
  const start = performance.now();
  await Promise.all(
    Array.from({ length: cmd.count }, async () => {
      const t0 = performance.now();
      try {
        const answer = await post(url, body, agent, cmd.headers);
        latenciesMs.push(performance.now() - t0);
        statuses.push(answer.status);
        bodies.push(answer.body);
      } catch (err) {
        transportErrors.push((err as Error).message);
      }
    }),
  );
  const elapsedMs = performance.now() - start;
  agent.destroy();
  return { kind: 'burst', elapsedMs, latenciesMs, statuses, bodies, transportErrors };
}

async function handle(cmd: LoadCommand): Promise<LoadReply> {
  switch (cmd.kind) {
    case 'duration':
      return duration(cmd);
    case 'burst':
      return burst(cmd);
  }
}

port.on('message', (cmd: LoadCommand) => {
  handle(cmd).then(
    (reply) => port.postMessage(reply),
    (err: unknown) => port.postMessage({ kind: 'failed', error: String(err) } satisfies LoadReply),
  );
});
