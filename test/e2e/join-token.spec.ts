import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { JoinTokenService } from '../../src/nodes/join-token.service.js';
import { AppHarness } from '../support/app-harness.js';
import { waitUntil } from '../support/fleet.js';
import { MAIN_JS, startProcess } from '../support/processes.js';
import { testEnv } from '../support/test-env.js';

const capacity = { gpus: [], vramTotalBytes: 0, ramTotalBytes: 1, cpuCount: 1, platform: 'linux', memoryBytes: 1 };

function register(app: AppHarness, name: string, joinToken?: string): Promise<Response> {
  return fetch(`${app.url}/api/nodes/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(joinToken ? { 'x-llmfleet-join-token': joinToken } : {}) },
    body: JSON.stringify({ name, url: 'http://127.0.0.1:9', protocolVersion: 1, capacity }),
  });
}

async function nodeNames(app: AppHarness): Promise<string[]> {
  const { nodes } = await app.data<{ nodes: Array<{ name: string }> }>('{ nodes { name } }');
  return nodes.map((n) => n.name);
}

/** Without NODE_JOIN_TOKEN: one generated at first start, agreed by replicas, readable by ADMIN, rotatable. */
describe('a generated join token', () => {
  let app: AppHarness;
  let replica: AppHarness;

  beforeAll(async () => {
    app = await AppHarness.start({ NODE_JOIN_TOKEN: '' });
    replica = await AppHarness.replicaOf(app);
  });

  afterAll(async () => {
    await replica?.stop();
    await app?.stop();
  });

  const joinToken = async (on: AppHarness): Promise<string> =>
    (await on.data<{ joinToken: string }>('{ joinToken }')).joinToken;

  it('exists from the first start, is the same on every replica, and is never stored in clear', async () => {
    const token = await joinToken(app);
    expect(token.length).toBeGreaterThanOrEqual(32);
    expect(await joinToken(replica)).toBe(token);
    const rows = JSON.stringify(await app.app.get(DataSource).query('SELECT * FROM fleet_secrets'));
    expect(rows).toContain('join-token');
    expect(rows).not.toContain(token);
  });

  it('replicas starting together on an empty database agree on one token (advisory lock)', async () => {
    await app.app.get(DataSource).query('DELETE FROM fleet_secrets');
    await Promise.all([app, replica].map((h) => h.app.get(JoinTokenService).onApplicationBootstrap()));
    const token = await joinToken(app);
    expect(await joinToken(replica)).toBe(token);
    expect(await app.app.get(DataSource).query('SELECT name FROM fleet_secrets')).toHaveLength(1);
    expect((await register(replica, 'after-bootstrap', token)).status).toBe(200);
  });

  it('is readable by ADMIN only', async () => {
    const operator = await app.createKey('OPERATOR');
    const denied = await app.gql('{ joinToken }', {}, { key: operator });
    expect(denied.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const rotate = await app.gql('mutation { rotateJoinToken }', {}, { key: operator });
    expect(rotate.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const anonymous = await app.gql('{ joinToken }', {}, { key: null });
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(JSON.stringify([denied, rotate, anonymous])).not.toContain(await joinToken(app));
  });

  it('refuses a join without it (401) or with a wrong one (403), writing nothing', async () => {
    const before = await nodeNames(app);
    const missing = await register(app, 'no-token');
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({
      error: { code: 'join_token_required', message: expect.stringMatching(/requires the join token/) },
    });
    const wrong = await register(app, 'wrong-token', `wrong-${randomBytes(24).toString('base64url')}`);
    expect(wrong.status).toBe(403);
    expect(await wrong.json()).toMatchObject({ error: { code: 'join_token_invalid' } });
    expect(await nodeNames(app)).toEqual(before);
  });

  it('rotates: the old token is refused at once on every replica, joined nodes keep working', async () => {
    const old = await joinToken(app);
    const joined = (await (await register(app, 'joined-before', old)).json()) as { nodeId: string; nodeToken: string };
    const { rotateJoinToken } = await app.data<{ rotateJoinToken: string }>('mutation { rotateJoinToken }');
    expect(rotateJoinToken).not.toBe(old);
    expect(await joinToken(replica)).toBe(rotateJoinToken);
    for (const on of [app, replica]) {
      expect((await register(on, 'with-old-token', old)).status).toBe(403);
    }
    expect(await nodeNames(app)).not.toContain('with-old-token');
    expect((await register(replica, 'with-new-token', rotateJoinToken)).status).toBe(200);
    const heartbeat = await fetch(`${replica.url}/api/nodes/${joined.nodeId}/states`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${joined.nodeToken}` },
      body: JSON.stringify({ models: [] }),
    });
    expect(heartbeat.status).toBe(200);
  });
});

describe('a configured NODE_JOIN_TOKEN', () => {
  let app: AppHarness;

  beforeAll(async () => {
    app = await AppHarness.start();
  });

  afterAll(async () => {
    await app?.stop();
  });

  it('is the join token, and is rotated by changing it, not by rotateJoinToken', async () => {
    const { joinToken } = await app.data<{ joinToken: string }>('{ joinToken }');
    expect(joinToken).toBe(app.config.NODE_JOIN_TOKEN);
    const res = await app.gql('mutation { rotateJoinToken }');
    expect(res.errors?.[0]?.message).toMatch(/comes from NODE_JOIN_TOKEN: change that variable/);
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', reason: 'JOIN_TOKEN_CONFIGURED' });
    expect((await register(app, 'configured', joinToken)).status).toBe(200);
  });

  it('must be at least 32 characters', async () => {
    await expect(AppHarness.start({ NODE_JOIN_TOKEN: 'short-secret' })).rejects.toThrow(
      /NODE_JOIN_TOKEN=\(hidden, 12 characters\): must be at least 32 characters/,
    );
  });
});

describe('the embedded agent', () => {
  const env = testEnv({ NODE_JOIN_TOKEN: '' });
  let modelsDir = '';

  afterAll(async () => {
    await env.cleanup();
    if (modelsDir) await rm(modelsDir, { recursive: true, force: true });
  });

  it('joins with the generated token, given in-process; the token never reaches the log', async () => {
    modelsDir = await mkdtemp(join(tmpdir(), 'llmfleet-embedded-'));
    const port = String(20000 + Math.floor(Math.random() * 20000));
    const proc = startProcess(MAIN_JS, {
      DATABASE_URL: env.config.DATABASE_URL,
      REDIS_PREFIX: env.config.REDIS_PREFIX,
      PORT: port,
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      EMBEDDED_AGENT: 'true',
      AGENT_GPU: 'false',
      MODELS_DIR: modelsDir,
      NODE_NAME: 'embedded-node',
      HF_ENDPOINT: 'http://127.0.0.1:9',
      ADMIN_API_KEY: env.config.ADMIN_API_KEY!,
    });
    try {
      await proc.waitForOutput(/embedded agent embedded-node joined the fleet/, 120_000);
      const gql = async <T>(query: string): Promise<T> => {
        const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${env.config.ADMIN_API_KEY}` },
          body: JSON.stringify({ query }),
        });
        return ((await res.json()) as { data: T }).data;
      };
      const { nodes } = await waitUntil('the embedded node is online', async () => {
        const data = await gql<{ nodes: Array<{ name: string; status: string }> }>('{ nodes { name status } }');
        return data.nodes.length === 1 ? data : undefined;
      });
      expect(nodes).toEqual([{ name: 'embedded-node', status: 'ONLINE' }]);
      const { joinToken } = await gql<{ joinToken: string }>('{ joinToken }');
      expect(proc.output()).toMatch(/generated a join token/);
      expect(proc.output()).not.toContain(joinToken);
    } finally {
      await proc.stop();
    }
  });
});
