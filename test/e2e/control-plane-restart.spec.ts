import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { GqlResponse } from '../support/app-harness.js';
import { writeCatalog } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { removeAgent, startAgent, waitUntil, type AgentHandle } from '../support/fleet.js';
import { MAIN_JS, startProcess, type RunningProcess } from '../support/processes.js';
import { testEnv } from '../support/test-env.js';
import { tinyGgufBuffer } from '../support/tiny-gguf.js';

/** The control plane as its own process, killed mid-download and started again: the download finishes, nothing re-fetched. */
describe('control plane killed mid-download', () => {
  const env = testEnv();
  const port = String(20000 + Math.floor(Math.random() * 20000));
  const url = `http://127.0.0.1:${port}`;
  let hub: FakeHub;
  let cp: RunningProcess;
  let agent: AgentHandle;
  let cpEnv: Record<string, string>;
  const big = tinyGgufBuffer({ seed: 7, padToBytes: 6 * 1024 * 1024 });

  const gql = async <T>(query: string, variables: Record<string, unknown> = {}): Promise<T> => {
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${env.config.ADMIN_API_KEY}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as GqlResponse<T>;
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data!;
  };

  beforeAll(async () => {
    hub = await FakeHub.start();
    hub.addRepo({ id: 'fleet/big-GGUF', files: [{ path: 'big-Q4_K_M.gguf', content: big }] });
    cpEnv = {
      DATABASE_URL: env.config.DATABASE_URL,
      REDIS_PREFIX: env.config.REDIS_PREFIX,
      PORT: port,
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      EMBEDDED_AGENT: 'false',
      HF_ENDPOINT: hub.url,
      ADMIN_API_KEY: env.config.ADMIN_API_KEY!,
      NODE_JOIN_TOKEN: env.config.NODE_JOIN_TOKEN!,
      SUPPORTED_MODELS_PATH: await writeCatalog([]),
      NODE_HEARTBEAT_INTERVAL_MS: '300',
      NODE_OFFLINE_AFTER_MS: '3000',
      PROGRESS_EVENT_INTERVAL_MS: '100',
      JOB_LOCK_MS: '2000',
    };
    cp = startProcess(MAIN_JS, cpEnv);
    await cp.waitForOutput(/listening on/, 120_000);
    agent = await startAgent({ url, config: cpEnv }, 'node-r');
  });

  afterAll(async () => {
    if (agent) await removeAgent(agent);
    await cp?.stop('SIGKILL');
    await hub?.stop();
    await env.cleanup();
  });

  it('finishes the download after a restart, with the bytes on disk kept', async () => {
    const nodeId = await waitUntil(
      'agent joined',
      async () => (await gql<{ nodes: Array<{ id: string }> }>('{ nodes { id } }')).nodes[0]?.id,
    );
    await gql('mutation { registerHfModel(url: "fleet/big-GGUF") { id } }');
    hub.throttle({ bytesPerSecond: 1024 * 1024 });
    await gql('mutation($n: [ID!]) { downloadModel(modelId: "hf/fleet/big-GGUF", nodeIds: $n) { lifecycleStatus } }', {
      n: [nodeId],
    });
    await waitUntil('a quarter downloaded', async () => {
      const { model } = await gql<{ model: { nodes: Array<{ bytesDone: number }> } }>(
        '{ model(id: "hf/fleet/big-GGUF") { nodes { bytesDone } } }',
      );
      return (model.nodes[0]?.bytesDone ?? 0) > big.length / 4;
    });

    await cp.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    hub.throttle(null);
    cp = startProcess(MAIN_JS, cpEnv);
    await cp.waitForOutput(/listening on/, 120_000);

    const ready = await waitUntil(
      'READY after the restart',
      async () => {
        const { model } = await gql<{
          model: { status: string; nodes: Array<{ lifecycleStatus: string; progress: number }> };
        }>('{ model(id: "hf/fleet/big-GGUF") { status nodes { lifecycleStatus progress } } }');
        return model.status === 'READY' ? model : undefined;
      },
      40_000,
    );
    expect(ready.nodes).toEqual([{ lifecycleStatus: 'READY', progress: 1 }]);
    const file = await readFile(
      join(agent.modelsDir, 'models', encodeURIComponent('hf/fleet/big-GGUF'), 'big-Q4_K_M.gguf'),
    );
    expect(createHash('sha256').update(file).digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
    // The agent kept its one download going while the control plane was away: the file was fetched once, from 0.
    const gets = hub.requests.filter(
      (r) => r.route === 'cdn' && r.method === 'GET' && r.path.includes('big-Q4_K_M.gguf'),
    );
    expect(gets.map((r) => r.range)).toEqual([null]);
  });
});
