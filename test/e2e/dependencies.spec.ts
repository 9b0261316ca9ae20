import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { addGgufRepo } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { waitUntil } from '../support/fleet.js';
import { MAIN_JS, startProcess, type RunningProcess } from '../support/processes.js';
import { testEnv } from '../support/test-env.js';
import { freePort, ThrowawayPostgres, ThrowawayRedis } from '../support/throwaway-services.js';

// Sent on every request so these tests keep working once API keys are required (a bootstrap admin key).
const ADMIN_KEY = 'newcomer-dependencies-admin-key-0123456789abcdef';
const auth = { authorization: `Bearer ${ADMIN_KEY}` };

const baseEnv = {
  LOG_LEVEL: 'warn',
  EMBEDDED_AGENT: 'false',
  HOST: '127.0.0.1',
  HF_ENDPOINT: 'http://127.0.0.1:9',
  ADMIN_API_KEY: ADMIN_KEY,
};

interface GqlAnswer {
  data?: Record<string, unknown> | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

async function gql(url: string, query: string, variables: Record<string, unknown> = {}): Promise<GqlAnswer> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as GqlAnswer;
}

async function health(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/health`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function listeningUrl(proc: RunningProcess): string {
  const match = /listening on http:\/\/[^:]+:(\d+)/.exec(proc.output());
  if (!match) throw new Error(`no listening line in:\n${proc.output()}`);
  return `http://127.0.0.1:${match[1]}`;
}

describe('Postgres or Redis unreachable at start', () => {
  const env = testEnv();

  afterAll(async () => {
    await env.cleanup();
  });

  it('Redis: one line naming it and its URL without the password, bounded retries, then exit 1', async () => {
    const port = await freePort();
    const proc = startProcess(MAIN_JS, {
      ...baseEnv,
      PORT: '0',
      DATABASE_URL: env.config.DATABASE_URL,
      REDIS_URL: `redis://:s3cret-password@127.0.0.1:${port}`,
      DEPENDENCY_WAIT_MS: '2000',
    });
    expect(await proc.exited).toBe(1);
    const out = proc.output();
    expect(out).toContain(
      `Redis at redis://:***@127.0.0.1:${port} is unreachable (connect ECONNREFUSED 127.0.0.1:${port}); retrying for up to 2 s (DEPENDENCY_WAIT_MS)`,
    );
    expect(out).toMatch(
      /Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ is unreachable \(.*\) after \d+ s of retries; giving up/,
    );
    expect(out).not.toContain('s3cret-password');
    expect(out).not.toMatch(/Unhandled error event|^\s+at /m);
    expect(out.trim().split('\n')).toHaveLength(2);
  });

  it('Postgres: the same, and DEPENDENCY_WAIT_MS=0 tries once', async () => {
    const port = await freePort();
    const proc = startProcess(MAIN_JS, {
      ...baseEnv,
      PORT: '0',
      DATABASE_URL: `postgres://postgres:s3cret-password@127.0.0.1:${port}/llmfleet`,
      REDIS_PREFIX: env.config.REDIS_PREFIX,
      DEPENDENCY_WAIT_MS: '0',
    });
    expect(await proc.exited).toBe(1);
    const out = proc.output();
    expect(out.trim()).toBe(
      `Postgres at postgres://postgres:***@127.0.0.1:${port}/llmfleet is unreachable (connect ECONNREFUSED 127.0.0.1:${port}); giving up`,
    );
  });

  it('honours SIGTERM while it waits', async () => {
    const proc = startProcess(MAIN_JS, {
      ...baseEnv,
      PORT: '0',
      DATABASE_URL: env.config.DATABASE_URL,
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      DEPENDENCY_WAIT_MS: '600000',
    });
    await proc.waitForOutput(/Redis at .* is unreachable/);
    expect(await proc.stop('SIGTERM')).toBe(143);
    expect(proc.output()).toMatch(/SIGTERM received while starting; exiting/);
  });

  it('starts as soon as the dependency comes up within the wait', async () => {
    const redis = await ThrowawayRedis.create();
    const proc = startProcess(MAIN_JS, {
      ...baseEnv,
      PORT: '0',
      DATABASE_URL: env.config.DATABASE_URL,
      REDIS_URL: redis.url,
      REDIS_PREFIX: env.config.REDIS_PREFIX,
      DEPENDENCY_WAIT_MS: '300000',
    });
    try {
      await proc.waitForOutput(/Redis at .* is unreachable/);
      await redis.start();
      await proc.waitForOutput(/listening on/, 120_000);
      expect(proc.output()).toContain(`Redis at ${redis.url} is reachable`);
      expect((await health(listeningUrl(proc))).status).toBe(200);
    } finally {
      await proc.stop();
      await redis.destroy();
    }
  });
});

describe('Postgres or Redis going down while running', () => {
  let hub: FakeHub;
  let redis: ThrowawayRedis;
  let postgres: ThrowawayPostgres;
  let proc: RunningProcess;
  let url: string;
  let ws: Client;

  const register = (repo: string) =>
    gql(url, 'mutation($url: String!) { registerHfModel(url: $url) { id } }', { url: repo });
  const modelIds = async (): Promise<string[] | null> => {
    const res = await gql(url, '{ models { id } }');
    return res.errors ? null : (res.data!.models as Array<{ id: string }>).map((m) => m.id);
  };

  beforeAll(async () => {
    hub = await FakeHub.start();
    for (const name of ['one', 'two', 'three']) addGgufRepo(hub, `dep-org/${name}-GGUF`, [`${name}-Q4_K_M.gguf`]);
    [redis, postgres] = await Promise.all([ThrowawayRedis.create(), ThrowawayPostgres.create()]);
    await Promise.all([redis.start(), postgres.start()]);
    proc = startProcess(MAIN_JS, {
      ...baseEnv,
      PORT: '0',
      DATABASE_URL: postgres.url('llmfleet'),
      REDIS_URL: redis.url,
      HF_ENDPOINT: hub.url,
    });
  }, 180_000);

  afterAll(async () => {
    await ws?.dispose();
    await proc?.stop();
    await Promise.all([redis?.destroy(), postgres?.destroy()]);
    await hub?.stop();
  });

  it('serves, then says which dependency is down, fails fast while it is, and resumes when it is back', async () => {
    await proc.waitForOutput(/listening on/, 120_000);
    url = listeningUrl(proc);
    expect(await health(url)).toEqual({ status: 200, body: { status: 'ok', checks: { database: 'up', redis: 'up' } } });
    expect((await register('dep-org/one-GGUF')).errors).toBeUndefined();

    const events: string[] = [];
    ws = createClient({
      url: `${url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: auth,
      retryAttempts: 0,
    });
    ws.subscribe<{ modelStatusChanged: { modelId: string } }>(
      { query: 'subscription { modelStatusChanged { modelId } }' },
      {
        next: (msg) => msg.data && events.push(msg.data.modelStatusChanged.modelId),
        error: () => undefined,
        complete: () => undefined,
      },
    );

    await redis.stop();
    const redisDown = await waitUntil('health says Redis is down', async () => {
      const answer = await health(url);
      return answer.status === 503 ? answer.body : null;
    });
    expect(redisDown).toMatchObject({ status: 'error', checks: { database: 'up', redis: 'down' } });
    expect(typeof (redisDown.details as Record<string, unknown>).redis).toBe('string');
    const refused = await register('dep-org/two-GGUF');
    expect(refused.errors?.[0]?.extensions).toMatchObject({
      code: 'UPSTREAM_UNAVAILABLE',
      reason: 'REDIS_UNAVAILABLE',
    });
    expect(refused.errors?.[0]?.message).toMatch(
      /^Redis is unavailable right now; changes are refused until it is back/,
    );
    expect(await modelIds()).toContain('hf/dep-org/one-GGUF');

    await redis.start();
    await waitUntil('health is ok again', async () => (await health(url)).status === 200, 60_000);
    await waitUntil('a mutation is accepted again', async () => !(await register('dep-org/two-GGUF')).errors);
    await waitUntil('the subscription hears of it', async () => events.includes('hf/dep-org/two-GGUF'), 30_000);

    await postgres.stop();
    const databaseDown = await waitUntil('health says Postgres is down', async () => {
      const answer = await health(url);
      return answer.status === 503 ? answer.body : null;
    });
    expect(databaseDown).toMatchObject({ status: 'error', checks: { database: 'down', redis: 'up' } });
    const failed = await gql(url, '{ models { id } }');
    expect(failed.errors?.[0]?.extensions).toMatchObject({
      code: 'UPSTREAM_UNAVAILABLE',
      reason: 'DATABASE_UNAVAILABLE',
    });
    expect(failed.errors?.[0]?.message).toMatch(/^Postgres is unavailable right now; retry when it is back/);

    await postgres.start();
    const ids = await waitUntil('queries answer again', modelIds, 60_000);
    expect(ids).toEqual(expect.arrayContaining(['hf/dep-org/one-GGUF', 'hf/dep-org/two-GGUF']));
    expect((await register('dep-org/three-GGUF')).errors).toBeUndefined();
    expect(await health(url)).toMatchObject({ status: 200 });

    const out = proc.output();
    // No stack traces from ioredis or BullMQ while Redis was away: at most one line per outage. (None when Redis came
    // back before a reconnect attempt failed: ioredis reports a refused reconnect, not the close itself.)
    expect(out).not.toMatch(/Unhandled error event|^\s+at /m);
    expect(out.match(/Redis at .* is unreachable/g)?.length ?? 0).toBeLessThanOrEqual(1);
  });

  it('stops on SIGTERM even while Redis is down', async () => {
    await redis.stop();
    await waitUntil('health says Redis is down', async () => (await health(url)).status === 503);
    const code = await proc.stop('SIGTERM');
    expect([0, 143]).toContain(code);
  });
});
