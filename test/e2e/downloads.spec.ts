import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AppHarness } from '../support/app-harness.js';
import { writeCatalog } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { removeAgent, startAgent, waitUntil, type AgentHandle } from '../support/fleet.js';
import { tinyGgufBuffer } from '../support/tiny-gguf.js';

interface NodeState {
  nodeId: string;
  modelId: string;
  lifecycleStatus: string;
  progress: number;
  bytesDone: number;
  bytesTotal: number;
  filePath: string | null;
  errorCode: string | null;
  errorMessage: string | null;
}
interface ModelEvent {
  modelStatusChanged: {
    seq: number;
    modelId: string;
    status: string;
    progress: number | null;
    nodeId: string | null;
    lifecycleStatus: string | null;
  };
}

const STATE = 'nodeId modelId lifecycleStatus progress bytesDone bytesTotal filePath errorCode errorMessage';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Control plane + two agents (real processes) + the local Hub serving tiny GGUFs generated here. */
describe('downloads to nodes', () => {
  let hub: FakeHub;
  let app: AppHarness;
  let a: AgentHandle;
  let b: AgentHandle;
  const small = tinyGgufBuffer({ seed: 1 });
  const other = tinyGgufBuffer({ seed: 2 });
  const big = tinyGgufBuffer({ seed: 3, padToBytes: 8 * 1024 * 1024 });
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    hub = await FakeHub.start();
    hub.addRepo({ id: 'fleet/tiny-GGUF', files: [{ path: 'tiny-Q4_K_M.gguf', content: small }] });
    hub.addRepo({ id: 'fleet/other-GGUF', files: [{ path: 'other-Q4_K_M.gguf', content: other }] });
    hub.addRepo({ id: 'fleet/big-GGUF', files: [{ path: 'big-Q4_K_M.gguf', content: big }] });
    hub.addRepo({
      id: 'fleet/rotten-GGUF',
      files: [{ path: 'rotten-Q4_K_M.gguf', content: tinyGgufBuffer({ seed: 4 }) }],
    });
    app = await AppHarness.start({
      HF_ENDPOINT: hub.url,
      SUPPORTED_MODELS_PATH: await writeCatalog([]),
      // Every node fetches from the Hub here: what is tested is the Hub transfer itself (peer-copy.spec covers peers).
      PEER_COPY: 'false',
      NODE_HEARTBEAT_INTERVAL_MS: '300',
      NODE_OFFLINE_AFTER_MS: '1500',
      PROGRESS_EVENT_INTERVAL_MS: '100',
      DOWNLOAD_BACKOFF_MS: '200',
      DOWNLOAD_ATTEMPTS: '3',
    });
    [a, b] = await Promise.all([startAgent(app, 'node-a'), startAgent(app, 'node-b')]);
    const nodes = await waitUntil('both agents joined', async () => {
      const { nodes } = await app.data<{ nodes: Array<{ id: string; name: string }> }>(
        '{ nodes(status: ONLINE) { id name } }',
      );
      return nodes.length === 2 ? nodes : undefined;
    });
    for (const n of nodes) ids[n.name] = n.id;
    for (const repo of ['fleet/tiny-GGUF', 'fleet/other-GGUF', 'fleet/big-GGUF', 'fleet/rotten-GGUF']) {
      await app.data('mutation($u: String!) { registerHfModel(url: $u) { id } }', { u: repo });
    }
  });

  afterAll(async () => {
    await Promise.all([a && removeAgent(a), b && removeAgent(b)]);
    await app?.stop();
    await hub?.stop();
  });

  const download = (modelId: string, nodeIds?: string[]) =>
    app.gql<{ downloadModel: NodeState[] }>(
      `mutation($m: ID!, $n: [ID!]) { downloadModel(modelId: $m, nodeIds: $n) { ${STATE} } }`,
      {
        m: modelId,
        n: nodeIds ?? null,
      },
    );
  const model = async (id: string) =>
    (
      await app.data<{
        model: {
          status: string;
          availableNodes: number;
          downloadProgress: number | null;
          errorMessage: string | null;
          nodes: NodeState[];
        };
      }>(
        `query($id: ID!) { model(id: $id) { status availableNodes downloadProgress errorMessage nodes { ${STATE} } } }`,
        { id },
      )
    ).model;
  const onDisk = async (agent: AgentHandle, modelId: string, file: string) =>
    readFile(join(agent.modelsDir, 'models', encodeURIComponent(modelId), file));

  it('registers both nodes with their memory and heartbeat metrics', async () => {
    const { nodes } = await app.data<{
      nodes: Array<{
        name: string;
        status: string;
        memoryBytes: number;
        cpuCount: number;
        metrics: { memoryUsage: number; cpuUsage: number; requestCount: number } | null;
      }>;
    }>('{ nodes { name status memoryBytes cpuCount metrics { memoryUsage cpuUsage requestCount } } }');
    expect(nodes.map((n) => [n.name, n.status])).toEqual([
      ['node-a', 'ONLINE'],
      ['node-b', 'ONLINE'],
    ]);
    // CPU-only nodes: their RAM is their memory.
    expect(nodes[0]!.memoryBytes).toBeGreaterThan(1024 ** 3);
    await waitUntil('metrics arrive', async () => {
      const { nodes: n } = await app.data<{ nodes: Array<{ metrics: unknown }> }>(
        '{ nodes { metrics { memoryUsage } } }',
      );
      return n.every((x) => x.metrics !== null);
    });
  });

  it('downloads a model to every node with ordered progress events; files match sha256 and the model loads', async () => {
    const sub = app.subscribe<ModelEvent>(
      'subscription { modelStatusChanged(modelId: "hf/fleet/tiny-GGUF") { seq modelId status progress nodeId lifecycleStatus } }',
    );
    await new Promise((r) => setTimeout(r, 300));
    const res = await download('hf/fleet/tiny-GGUF');
    expect(res.errors).toBeUndefined();
    expect(res.data!.downloadModel.map((s) => s.lifecycleStatus)).toEqual(['PENDING', 'PENDING']);

    const ready = await waitUntil('READY on both nodes', async () => {
      const m = await model('hf/fleet/tiny-GGUF');
      return m.availableNodes === 2 ? m : undefined;
    });
    expect(ready.status).toBe('READY');
    for (const agent of [a, b]) {
      expect(sha256(await onDisk(agent, 'hf/fleet/tiny-GGUF', 'tiny-Q4_K_M.gguf'))).toBe(sha256(small));
    }
    expect(
      ready.nodes.every(
        (n) => n.lifecycleStatus === 'READY' && n.progress === 1 && n.filePath?.endsWith('tiny-Q4_K_M.gguf'),
      ),
    ).toBe(true);

    const events = (await sub.waitFor(1)).map((e) => e.modelStatusChanged);
    await waitUntil(
      'final events',
      async () => sub.events.filter((e) => e.modelStatusChanged.lifecycleStatus === 'READY').length >= 2,
    );
    const seqs = sub.events.map((e) => e.modelStatusChanged.seq);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    for (const nodeId of [ids['node-a'], ids['node-b']]) {
      const lifecycle = sub.events
        .map((e) => e.modelStatusChanged)
        .filter((e) => e.nodeId === nodeId)
        .map((e) => e.lifecycleStatus);
      const order = ['PENDING', 'DOWNLOADING', 'LOADING', 'READY'];
      const ranks = lifecycle.map((l) => order.indexOf(l!));
      expect(ranks).toEqual([...ranks].sort((x, y) => x - y));
      // It went through LOADING: the agent proved the model loads with node-llama-cpp before READY.
      expect(lifecycle).toEqual(expect.arrayContaining(['PENDING', 'LOADING', 'READY']));
    }
    expect(events[0]!.modelId).toBe('hf/fleet/tiny-GGUF');
    sub.close();

    const v1 = (await (await fetch(`${app.url}/v1/models`, { headers: app.authHeaders() })).json()) as {
      data: Array<{ id: string; ready: boolean }>;
    };
    expect(v1.data.find((m) => m.id === 'hf/fleet/tiny-GGUF')?.ready).toBe(true);
  });

  it('downloads to the chosen node only', async () => {
    const res = await download('hf/fleet/other-GGUF', [ids['node-b']!]);
    expect(res.data!.downloadModel).toHaveLength(1);
    await waitUntil('READY on node-b', async () => (await model('hf/fleet/other-GGUF')).availableNodes === 1);
    const m = await model('hf/fleet/other-GGUF');
    expect(m.nodes.map((n) => n.nodeId)).toEqual([ids['node-b']]);
    await expect(onDisk(a, 'hf/fleet/other-GGUF', 'other-Q4_K_M.gguf')).rejects.toThrow(/ENOENT/);
  });

  it('resumes after the agent is killed mid-download, without fetching again what it had', async () => {
    hub.throttle({ bytesPerSecond: 2 * 1024 * 1024 });
    hub.clearRequests();
    await download('hf/fleet/big-GGUF', [ids['node-a']!]);
    const partial = await waitUntil('a third downloaded', async () => {
      const s = (await model('hf/fleet/big-GGUF')).nodes[0];
      return s && s.bytesDone > big.length / 3 ? s.bytesDone : undefined;
    });
    await a.kill('SIGKILL');
    const kept = (
      await stat(join(a.modelsDir, 'models', encodeURIComponent('hf/fleet/big-GGUF'), 'big-Q4_K_M.gguf.partial'))
    ).size;
    expect(kept).toBeGreaterThanOrEqual(partial);
    hub.throttle(null);
    await a.restart();
    await waitUntil('READY after restart', async () => (await model('hf/fleet/big-GGUF')).status === 'READY', 30_000);
    expect(sha256(await onDisk(a, 'hf/fleet/big-GGUF', 'big-Q4_K_M.gguf'))).toBe(sha256(big));
    const cdn = hub.requests.filter(
      (r) => r.route === 'cdn' && r.path.includes('big-Q4_K_M.gguf') && r.method === 'GET',
    );
    expect(cdn[0]!.range).toBeNull();
    // Every request after the kill resumed at or past what was on disk.
    const resumed = cdn.slice(1).map((r) => Number(/bytes=(\d+)-/.exec(r.range ?? '')?.[1] ?? -1));
    expect(resumed.length).toBeGreaterThan(0);
    expect(Math.min(...resumed)).toBeGreaterThanOrEqual(kept);
  });

  it('ends in ERROR (not READY) when the Hub serves the wrong bytes, and keeps no corrupt file', async () => {
    hub.corrupt({ repo: 'fleet/rotten-GGUF', file: 'rotten-Q4_K_M.gguf' });
    await download('hf/fleet/rotten-GGUF', [ids['node-b']!]);
    const failed = await waitUntil('ERROR', async () => {
      const m = await model('hf/fleet/rotten-GGUF');
      return m.status === 'ERROR' ? m : undefined;
    });
    expect(failed.nodes[0]).toMatchObject({ lifecycleStatus: 'ERROR', errorCode: 'CHECKSUM_MISMATCH' });
    expect(failed.errorMessage).toMatch(/sha256/i);
    const dir = join(b.modelsDir, 'models', encodeURIComponent('hf/fleet/rotten-GGUF'));
    expect((await readdir(dir)).filter((f) => f.endsWith('.gguf') || f.endsWith('.partial'))).toEqual([]);
    hub.reset();
  });

  it('refuses a node whose memory is smaller than the model needs, before any byte moves', async () => {
    const tiny = await startAgent(app, 'node-tiny', { AGENT_MEMORY_BYTES: '1000' });
    try {
      const nodeId = await waitUntil('node-tiny joined', async () => {
        const { nodes } = await app.data<{ nodes: Array<{ id: string; name: string }> }>('{ nodes { id name } }');
        return nodes.find((n) => n.name === 'node-tiny')?.id;
      });
      const before = hub.count('cdn');
      const res = await download('hf/fleet/tiny-GGUF', [nodeId]);
      expect(res.data!.downloadModel[0]).toMatchObject({ lifecycleStatus: 'ERROR', errorCode: 'INSUFFICIENT_MEMORY' });
      expect(res.data!.downloadModel[0]!.errorMessage).toMatch(/needs .* GiB of memory; node node-tiny has 0\.0 GiB/);
      await new Promise((r) => setTimeout(r, 500));
      expect(hub.count('cdn')).toBe(before);
    } finally {
      await removeAgent(tiny);
    }
  });

  it('names unknown models and nodes', async () => {
    const unknownModel = await download('hf/nope/nope');
    expect(unknownModel.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND' });
    const unknownNode = await download('hf/fleet/tiny-GGUF', ['00000000-0000-0000-0000-000000000000', 'garbage']);
    expect(unknownNode.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', reason: 'NODE_NOT_FOUND' });
    expect(unknownNode.errors?.[0]?.message).toMatch(/00000000-0000-0000-0000-000000000000, garbage/);
  });

  it('authenticates the node protocol: join token, and a node may only speak for itself', async () => {
    const body = {
      name: 'intruder',
      url: 'http://127.0.0.1:1',
      protocolVersion: 1,
      capacity: { gpus: [], vramTotalBytes: 0, ramTotalBytes: 1, cpuCount: 1, platform: 'linux', memoryBytes: 1 },
    };
    const post = (headers: Record<string, string>) =>
      fetch(`${app.url}/api/nodes/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    expect((await post({})).status).toBe(401);
    expect((await post({ 'x-llmfleet-join-token': 'wrong' })).status).toBe(403);
    const creds = JSON.parse(await readFile(join(b.modelsDir, '.llmfleet', 'node.json'), 'utf8')) as {
      nodeToken: string;
    };
    const hb = await fetch(`${app.url}/api/nodes/${ids['node-a']}/heartbeat`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${creds.nodeToken}` },
      body: JSON.stringify({ metrics: {}, models: [] }),
    });
    expect(hb.status).toBe(403);
    expect(await hb.json()).toMatchObject({ error: { code: 'node_token_invalid' } });
    const bad = await fetch(`${app.url}/api/nodes/${ids['node-b']}/heartbeat`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${creds.nodeToken}` },
      body: JSON.stringify({ metrics: { gpuUsage: 'hot' }, models: [] }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/metrics\.gpuUsage/);
  });

  it('marks a node OFFLINE when it stops heartbeating, and ONLINE when it is back', async () => {
    const sub = app.subscribe<{ nodeStatusChanged: { nodeId: string; status: string } }>(
      'subscription($n: ID) { nodeStatusChanged(nodeId: $n) { nodeId status } }',
      { n: ids['node-b'] },
    );
    await new Promise((r) => setTimeout(r, 300));
    await b.kill('SIGKILL');
    await waitUntil(
      'OFFLINE event',
      async () => sub.events.some((e) => e.nodeStatusChanged.status === 'OFFLINE'),
      10_000,
    );
    const { node } = await app.data<{ node: { status: string } }>('query($id: ID!) { node(id: $id) { status } }', {
      id: ids['node-b'],
    });
    expect(node.status).toBe('OFFLINE');
    await b.restart();
    await waitUntil('ONLINE again', async () => sub.events.at(-1)?.nodeStatusChanged.status === 'ONLINE', 10_000);
    // The restarted agent kept its identity and reports the models it holds.
    const { node: back } = await app.data<{
      node: { status: string; models: Array<{ modelId: string; lifecycleStatus: string }> };
    }>('query($id: ID!) { node(id: $id) { status models { modelId lifecycleStatus } } }', { id: ids['node-b'] });
    expect(back.models).toEqual(expect.arrayContaining([{ modelId: 'hf/fleet/tiny-GGUF', lifecycleStatus: 'READY' }]));
    sub.close();
  });

  it('deleteModel removes the files from every node, then unregisters', async () => {
    const res = await app.gql<{ deleteModel: { id: string; status: string } }>(
      'mutation { deleteModel(modelId: "hf/fleet/tiny-GGUF") { id status } }',
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.deleteModel.status).toBe('AVAILABLE');
    for (const agent of [a, b]) {
      await expect(stat(join(agent.modelsDir, 'models', encodeURIComponent('hf/fleet/tiny-GGUF')))).rejects.toThrow(
        /ENOENT/,
      );
    }
    const { model: gone } = await app.data<{ model: unknown }>('{ model(id: "hf/fleet/tiny-GGUF") { id } }');
    expect(gone).toBeNull();
  });
});
