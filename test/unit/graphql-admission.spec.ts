import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from '@jest/globals';
import { AdmissionLimiter, graphqlAdmission, type Refusal } from '../../src/graphql/admission.js';

type Outcome = (() => void) | Refusal;
const released = (o: Outcome): o is () => void => typeof o === 'function';

describe('AdmissionLimiter', () => {
  it('admits up to maxConcurrent at once and queues the rest until a slot frees', async () => {
    const limiter = new AdmissionLimiter({ maxConcurrent: 2, maxQueued: 10, queueTimeoutMs: 60_000 });
    const a = await limiter.admit('x');
    const b = await limiter.admit('x');
    let third: Outcome | null = null;
    void limiter.admit('x').then((o) => (third = o));
    await Promise.resolve();
    expect(third).toBeNull();
    expect(limiter.stats).toEqual({ running: 2, waiting: 1, flows: 1 });
    if (!released(a) || !released(b)) throw new Error('expected admission');
    a();
    a(); // a second release of the same slot frees nothing more
    await new Promise((r) => setImmediate(r));
    expect(third).toEqual(expect.any(Function));
    expect(limiter.stats).toEqual({ running: 2, waiting: 0, flows: 0 });
  });

  it('serves waiting callers in turn: a caller with many queued does not starve one with one', async () => {
    const limiter = new AdmissionLimiter({ maxConcurrent: 1, maxQueued: 100, queueTimeoutMs: 60_000 });
    const first = await limiter.admit('busy');
    const order: string[] = [];
    const waits = [
      ...Array.from({ length: 5 }, (_, i) => ['busy', `busy${i}`] as const),
      ['quiet', 'quiet0'] as const,
      ['other', 'other0'] as const,
    ].map(([flow, name]) =>
      limiter.admit(flow).then((o) => {
        order.push(name);
        if (released(o)) setImmediate(o);
      }),
    );
    if (released(first)) first();
    await Promise.all(waits);
    // Round robin over the flows in the order they first waited: busy, quiet, other, then busy's others.
    expect(order).toEqual(['busy0', 'quiet0', 'other0', 'busy1', 'busy2', 'busy3', 'busy4']);
  });

  it('refuses at once past maxQueued, and after queueTimeoutMs in the queue', async () => {
    const limiter = new AdmissionLimiter({ maxConcurrent: 1, maxQueued: 1, queueTimeoutMs: 50 });
    const held = await limiter.admit('x');
    const waiting = limiter.admit('y');
    expect(await limiter.admit('z')).toEqual({ kind: 'QUEUE_FULL' });
    const timedOut = await waiting;
    expect(timedOut).toMatchObject({ kind: 'QUEUE_TIMEOUT' });
    expect((timedOut as { waitedMs: number }).waitedMs).toBeGreaterThanOrEqual(40);
    expect(limiter.stats).toEqual({ running: 1, waiting: 0, flows: 0 });
    if (released(held)) held();
    expect(limiter.stats.running).toBe(0);
  });

  it('drops a waiter whose client went away', async () => {
    const limiter = new AdmissionLimiter({ maxConcurrent: 1, maxQueued: 5, queueTimeoutMs: 60_000 });
    const held = await limiter.admit('x');
    let cancel: () => void = () => undefined;
    void limiter.admit('y', (c) => (cancel = c));
    expect(limiter.stats.waiting).toBe(1);
    cancel();
    expect(limiter.stats).toEqual({ running: 1, waiting: 0, flows: 0 });
    if (released(held)) held();
    expect(limiter.stats.running).toBe(0);
  });

  it('admits everything when maxConcurrent is 0', async () => {
    const limiter = new AdmissionLimiter({ maxConcurrent: 0, maxQueued: 0, queueTimeoutMs: 1 });
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => limiter.admit('x')));
    expect(outcomes.every(released)).toBe(true);
  });
});

describe('graphqlAdmission over HTTP', () => {
  let server: Server | null = null;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  it('answers 503 with Retry-After and a message naming the limits when the queue is full; releases slots', async () => {
    const limiter = new AdmissionLimiter({ maxConcurrent: 1, maxQueued: 1, queueTimeoutMs: 60_000 });
    const middleware = graphqlAdmission(limiter);
    const pending: Array<() => void> = [];
    server = createServer((req, res) =>
      middleware(req, res, () => {
        // The "execution": held until the test lets it answer.
        pending.push(() => res.end('{"data":{}}'));
      }),
    );
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/graphql`;
    const post = () => fetch(url, { method: 'POST', body: '{}', headers: { authorization: 'Bearer k' } });
    const first = post();
    const second = post();
    while (limiter.stats.running + limiter.stats.waiting < 2) await new Promise((r) => setTimeout(r, 5));
    const refused = await post();
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    const body = (await refused.json()) as { errors: Array<{ message: string; extensions: Record<string, unknown> }> };
    expect(body.errors[0]!.message).toMatch(/GRAPHQL_MAX_CONCURRENT, GRAPHQL_MAX_QUEUED/);
    expect(body.errors[0]!.extensions).toMatchObject({ code: 'SERVER_BUSY', reason: 'QUEUE_FULL', maxConcurrent: 1 });
    pending.shift()!();
    expect((await first).status).toBe(200);
    while (pending.length === 0) await new Promise((r) => setTimeout(r, 5));
    pending.shift()!();
    expect((await second).status).toBe(200);
    while (limiter.stats.running > 0) await new Promise((r) => setTimeout(r, 5));
    expect(limiter.stats).toEqual({ running: 0, waiting: 0, flows: 0 });
  });
});
