import { createHash } from 'node:crypto';
import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AppHarness } from '../support/app-harness.js';
import { writeCatalog } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { removeAgent, startAgent, waitUntil, type AgentHandle } from '../support/fleet.js';
import { tinyGgufBuffer } from '../support/tiny-gguf.js';

interface Repair {
  id: string;
  nodeId: string;
  modelId: string;
  reason: string;
  status: string;
  trigger: string;
  fromZero: boolean;
  attempts: number;
  errorMessage: string | null;
  elapsedMs: number;
}
const REPAIR = 'id nodeId modelId reason status trigger fromZero attempts errorMessage elapsedMs';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Seed 004 across the fleet: broken files are noticed, requests get honest answers, and the files are repaired. */
describe('automatic repair', () => {
  let hub: FakeHub;
  let app: AppHarness;
  let a: AgentHandle;
  let b: AgentHandle;
  const ids: Record<string, string> = {};
  const bytes: Record<string, Buffer> = {};

  beforeAll(async () => {
    hub = await FakeHub.start();
    for (const [i, name] of ['solo', 'busy', 'rot', 'doomed', 'shared'].entries()) {
      bytes[name] = tinyGgufBuffer({ seed: 10 + i, padToBytes: name === 'busy' ? 4 * 1024 * 1024 : undefined });
      hub.addRepo({ id: `fleet/${name}-GGUF`, files: [{ path: `${name}-Q4_K_M.gguf`, content: bytes[name] }] });
    }
    app = await AppHarness.start({
      HF_ENDPOINT: hub.url,
      SUPPORTED_MODELS_PATH: await writeCatalog([]),
      NODE_HEARTBEAT_INTERVAL_MS: '300',
      NODE_OFFLINE_AFTER_MS: '3000',
      PROGRESS_EVENT_INTERVAL_MS: '100',
      REPAIR_BREAKER_THRESHOLD: '2',
      REPAIR_RETRY_DELAY_MS: '300',
    });
    const agentEnv = { AGENT_REPAIR_RETRY_MS: '300' };
    [a, b] = await Promise.all([
      startAgent(app, 'node-a', agentEnv),
      startAgent(app, 'node-b', { ...agentEnv, AGENT_VERIFY_INTERVAL_MS: '1000' }),
    ]);
    const nodes = await waitUntil('agents joined', async () => {
      const { nodes: n } = await app.data<{ nodes: Array<{ id: string; name: string }> }>(
        '{ nodes(status: ONLINE) { id name } }',
      );
      return n.length === 2 ? n : undefined;
    });
    for (const n of nodes) ids[n.name] = n.id;
    for (const name of ['solo', 'busy', 'rot', 'doomed']) await register(name, [ids['node-a']!]);
    await register('shared', [ids['node-a']!, ids['node-b']!]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([a && removeAgent(a), b && removeAgent(b)]);
    await app?.stop();
    await hub?.stop();
  });

  async function register(name: string, nodeIds: string[]): Promise<void> {
    await app.data('mutation($u: String!) { registerHfModel(url: $u) { id } }', { u: `fleet/${name}-GGUF` });
    await app.data('mutation($m: ID!, $n: [ID!]) { downloadModel(modelId: $m, nodeIds: $n) { lifecycleStatus } }', {
      m: modelId(name),
      n: nodeIds,
    });
    await waitUntil(`${name} READY`, async () => (await readyCount(name)) === nodeIds.length, 30_000);
  }
  const modelId = (name: string) => `hf/fleet/${name}-GGUF`;
  const fileOn = (agent: AgentHandle, name: string) =>
    join(agent.modelsDir, 'models', encodeURIComponent(modelId(name)), `${name}-Q4_K_M.gguf`);
  const readyCount = async (name: string) =>
    (
      await app.data<{ model: { availableNodes: number } }>('query($id: ID!) { model(id: $id) { availableNodes } }', {
        id: modelId(name),
      })
    ).model.availableNodes;
  const repairs = async (name: string) =>
    (
      await app.data<{ repairs: Repair[] }>(`query($m: ID) { repairs(modelId: $m) { ${REPAIR} } }`, {
        m: modelId(name),
      })
    ).repairs;
  const chat = (name: string) =>
    fetch(`${app.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...app.authHeaders() },
      body: JSON.stringify({ model: modelId(name), messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4 }),
    });

  it('answers chat completions from a ready node, counting requests in the node metrics', async () => {
    const res = await chat('solo');
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      object: string;
      choices: Array<{ message: { role: string; content: string } }>;
    };
    expect(body.object).toBe('chat.completion');
    expect(body.choices[0]!.message.role).toBe('assistant');
    expect(res.headers.get('x-llmfleet-node')).toBe('node-a');
    await waitUntil('request counted', async () => {
      const { node } = await app.data<{ node: { metrics: { requestCount: number } } }>(
        'query($id: ID!) { node(id: $id) { metrics { requestCount } } }',
        { id: ids['node-a'] },
      );
      return node.metrics.requestCount >= 1;
    });
  });

  it('a truncated file: the request gets 503 model_repairing, the model is repaired and answers again', async () => {
    await chat('solo');
    await truncate(fileOn(a, 'solo'), bytes.solo!.length / 2);
    // The agent has the model loaded from before; it must notice on the next load, so it is unloaded by a restart.
    await a.restart();
    const first = await chat('solo');
    expect(first.status).toBe(503);
    expect(Number(first.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await first.json()).toMatchObject({ error: { type: 'service_unavailable', code: 'model_repairing' } });

    const done = await waitUntil(
      'repair SUCCESS',
      async () => (await repairs('solo')).find((r) => r.status === 'SUCCESS'),
      30_000,
    );
    expect(done).toMatchObject({ nodeId: ids['node-a'], reason: 'CORRUPTED', status: 'SUCCESS' });
    expect(sha256(await readFile(fileOn(a, 'solo')))).toBe(sha256(bytes.solo!));
    await waitUntil('answers again', async () => (await chat('solo')).status === 200, 15_000);
  });

  it('20 concurrent requests during one repair: all 503 with Retry-After, exactly one repair', async () => {
    hub.throttle({ bytesPerSecond: 512 * 1024 });
    try {
      await rm(fileOn(a, 'busy'));
      const answers = await Promise.all(Array.from({ length: 20 }, () => chat('busy')));
      expect(answers.map((r) => r.status)).toEqual(Array(20).fill(503));
      expect(answers.every((r) => Number(r.headers.get('retry-after')) > 0)).toBe(true);
      const bodies = (await Promise.all(answers.map((r) => r.json()))) as Array<{ error: { code: string } }>;
      expect(new Set(bodies.map((b) => b.error.code))).toEqual(new Set(['model_repairing']));
      const tasks = await repairs('busy');
      expect(tasks).toHaveLength(1);
      expect(tasks[0]).toMatchObject({ reason: 'FILE_NOT_FOUND', status: 'IN_PROGRESS', fromZero: false });
    } finally {
      hub.throttle(null);
    }
    await waitUntil('busy repaired', async () => (await repairs('busy'))[0]?.status === 'SUCCESS', 30_000);
  });

  it('flipped bytes load fine; verifyModel catches them by sha256 and repairs', async () => {
    const path = fileOn(a, 'rot');
    const rotten = Buffer.from(await readFile(path));
    for (let i = 1; i <= 8; i++) rotten[rotten.length - i * 64] = rotten[rotten.length - i * 64]! ^ 0xff;
    await writeFile(path, rotten);
    const res = await app.gql<{
      verifyModel: { lifecycleStatus: string; loadError: string | null; errorMessage: string | null };
    }>(
      'mutation($m: ID!, $n: ID!) { verifyModel(modelId: $m, nodeId: $n) { lifecycleStatus loadError errorMessage } }',
      { m: modelId('rot'), n: ids['node-a'] },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.verifyModel).toMatchObject({ lifecycleStatus: 'ERROR', loadError: 'CORRUPTED' });
    expect(res.data!.verifyModel.errorMessage).toMatch(/sha256 mismatch/);
    const done = await waitUntil(
      'rot repaired',
      async () => (await repairs('rot')).find((r) => r.status === 'SUCCESS'),
      30_000,
    );
    expect(done).toMatchObject({ trigger: 'VERIFY', fromZero: true });
    expect(sha256(await readFile(path))).toBe(sha256(bytes.rot!));
  });

  it('routes a request away from a node whose copy is broken to a healthy one', async () => {
    await truncate(fileOn(a, 'shared'), 1000);
    await a.restart();
    const res = await chat('shared');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-llmfleet-node')).toBe('node-b');
    await waitUntil('a repair for node-a', async () =>
      (await repairs('shared')).some((r) => r.nodeId === ids['node-a']),
    );
  });

  it('the Hub down during repairs: FAILED with repair_failed, then the breaker stops auto-repair; repairModel still works', async () => {
    hub.fail({ route: 'all', repo: 'fleet/doomed-GGUF', status: 503 });
    await rm(fileOn(a, 'doomed'));
    expect((await chat('doomed')).status).toBe(503);
    await waitUntil(
      'first repair FAILED',
      async () => (await repairs('doomed')).some((r) => r.status === 'FAILED'),
      60_000,
    );
    const failed = await chat('doomed');
    // Between the failure and the retry the answer is honest either way: repairing again, or failed.
    expect([500, 503]).toContain(failed.status);
    const failedBody = (await failed.json()) as { error: { type: string } };
    expect(['repair_failed', 'service_unavailable']).toContain(failedBody.error.type);

    // The control plane tries again by itself; the second failure in a row trips the breaker instead of looping.
    const open = await waitUntil(
      'breaker open',
      async () => {
        const r = await chat('doomed');
        const body = (await r.json()) as { error: { type: string; message: string } };
        return r.status === 500 && /Automatic repair stopped after 2 failed repairs/.test(body.error.message)
          ? body
          : undefined;
      },
      60_000,
    );
    expect(open.error.type).toBe('repair_failed');
    const count = (await repairs('doomed')).length;
    expect(count).toBe(2);
    await new Promise((r) => setTimeout(r, 1500));
    await chat('doomed');
    expect((await repairs('doomed')).length).toBe(count);

    hub.reset();
    const manual = await app.gql<{ repairModel: Repair }>(
      `mutation($m: ID!, $n: ID!) { repairModel(modelId: $m, nodeId: $n) { ${REPAIR} } }`,
      {
        m: modelId('doomed'),
        n: ids['node-a'],
      },
    );
    expect(manual.data!.repairModel).toMatchObject({ status: 'IN_PROGRESS', trigger: 'MANUAL' });
    await waitUntil('manual repair SUCCESS', async () => (await repairs('doomed'))[0]?.status === 'SUCCESS', 30_000);
    await waitUntil('doomed answers', async () => (await chat('doomed')).status === 200, 15_000);
    // Two failing repairs with the downloader's own retries, then a good one: give a loaded machine room.
  }, 180_000);

  it('the scheduled sha256 sweep finds rot on its own and repairs it', async () => {
    const path = fileOn(b, 'shared');
    const rotten = Buffer.from(await readFile(path));
    rotten[rotten.length - 32] = rotten[rotten.length - 32]! ^ 0xff;
    await writeFile(path, rotten);
    const done = await waitUntil(
      'sweep repair on node-b',
      async () => (await repairs('shared')).find((r) => r.nodeId === ids['node-b'] && r.status === 'SUCCESS'),
      30_000,
    );
    expect(done).toMatchObject({ trigger: 'SWEEP', reason: 'CORRUPTED', fromZero: true });
    expect(sha256(await readFile(path))).toBe(sha256(bytes.shared!));
  });

  it('publishes repairs as they start and end', async () => {
    const sub = app.subscribe<{ repairStatusChanged: { seq: number; modelId: string; status: string } }>(
      'subscription($m: ID) { repairStatusChanged(modelId: $m) { seq modelId status } }',
      { m: modelId('solo') },
    );
    await new Promise((r) => setTimeout(r, 300));
    await app.data('mutation($m: ID!, $n: ID!) { repairModel(modelId: $m, nodeId: $n) { id } }', {
      m: modelId('solo'),
      n: ids['node-a'],
    });
    await waitUntil(
      'SUCCESS event',
      async () => sub.events.some((e) => e.repairStatusChanged.status === 'SUCCESS'),
      30_000,
    );
    const statuses = sub.events.map((e) => e.repairStatusChanged.status);
    expect(statuses[0]).toBe('IN_PROGRESS');
    expect(statuses.at(-1)).toBe('SUCCESS');
    sub.close();
  });

  it('records every repair on the node and publishes them', async () => {
    const { node } = await app.data<{ node: { repairs: Repair[] } }>(
      `query($id: ID!) { node(id: $id) { repairs { ${REPAIR} } } }`,
      { id: ids['node-a'] },
    );
    expect(node.repairs.length).toBeGreaterThanOrEqual(5);
    expect(node.repairs.every((r) => r.elapsedMs >= 0 && r.attempts >= 1)).toBe(true);
  });
});
