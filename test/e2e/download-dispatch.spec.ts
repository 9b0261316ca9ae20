import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { AppHarness } from '../support/app-harness.js';
import { writeCatalog } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { removeAgent, startAgent, waitUntil, type AgentHandle } from '../support/fleet.js';
import { tinyGgufBuffer } from '../support/tiny-gguf.js';

interface State {
  nodeId: string;
  lifecycleStatus: string;
  bytesDone: number;
  errorCode: string | null;
  errorMessage: string | null;
}

const STATE = 'nodeId lifecycleStatus bytesDone errorCode errorMessage';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Downloads owned by the agents: the control plane dispatches (a short job), tracks the agents' reports, times out and
 * retries — on two replicas, with no worker held for a transfer, one transfer per node × model, and cancel/resume.
 */
describe('download dispatch', () => {
  let hub: FakeHub;
  let app: AppHarness;
  let replica: AppHarness;
  let queue: Queue;
  let a: AgentHandle;
  let b: AgentHandle;
  const ids: Record<string, string> = {};
  const big = tinyGgufBuffer({ seed: 11, padToBytes: 6 * 1024 * 1024 });
  const slow = tinyGgufBuffer({ seed: 12, padToBytes: 6 * 1024 * 1024 });
  const stalled = tinyGgufBuffer({ seed: 13 });

  beforeAll(async () => {
    hub = await FakeHub.start();
    hub.addRepo({ id: 'fleet/big-GGUF', files: [{ path: 'big-Q4_K_M.gguf', content: big }] });
    hub.addRepo({ id: 'fleet/slow-GGUF', files: [{ path: 'slow-Q4_K_M.gguf', content: slow }] });
    hub.addRepo({ id: 'fleet/stalled-GGUF', files: [{ path: 'stalled-Q4_K_M.gguf', content: stalled }] });
    app = await AppHarness.start({
      HF_ENDPOINT: hub.url,
      SUPPORTED_MODELS_PATH: await writeCatalog([]),
      // Every node fetches from the Hub here: what is tested is the Hub transfer itself (peer-copy.spec covers peers).
      PEER_COPY: 'false',
      NODE_HEARTBEAT_INTERVAL_MS: '300',
      NODE_OFFLINE_AFTER_MS: '10000',
      PROGRESS_EVENT_INTERVAL_MS: '100',
      DOWNLOAD_BACKOFF_MS: '100',
      DOWNLOAD_ATTEMPTS: '2',
      // A short deadline and stall window, so the timeout test runs in seconds; progress keeps the others alive.
      DOWNLOAD_TIMEOUT_BASE_MS: '1000',
      DOWNLOAD_STALL_MS: '3000',
    });
    replica = await AppHarness.replicaOf(app);
    queue = new Queue('downloads', {
      connection: { url: app.config.REDIS_URL },
      prefix: `${app.config.REDIS_PREFIX}:bull`,
    });
    // The agents' own stall timeout is long: the control plane's deadline must be what ends a silent download.
    [a, b] = await Promise.all([
      startAgent(app, 'node-a', { AGENT_STALL_TIMEOUT_MS: '120000' }),
      startAgent(replica, 'node-b', { AGENT_STALL_TIMEOUT_MS: '120000' }),
    ]);
    const nodes = await waitUntil('both agents joined', async () => {
      const { nodes } = await app.data<{ nodes: Array<{ id: string; name: string }> }>('{ nodes { id name } }');
      return nodes.length === 2 ? nodes : undefined;
    });
    for (const n of nodes) ids[n.name] = n.id;
    for (const repo of ['fleet/big-GGUF', 'fleet/slow-GGUF', 'fleet/stalled-GGUF']) {
      await app.data('mutation($u: String!) { registerHfModel(url: $u) { id } }', { u: repo });
    }
  });

  afterAll(async () => {
    await queue?.close();
    await Promise.all([a && removeAgent(a), b && removeAgent(b)]);
    await replica?.stop();
    await app?.stop();
    await hub?.stop();
  });

  const download = (modelId: string, nodeIds?: string[]) =>
    app.data<{ downloadModel: State[] }>(
      `mutation($m: ID!, $n: [ID!]) { downloadModel(modelId: $m, nodeIds: $n) { ${STATE} } }`,
      { m: modelId, n: nodeIds ?? null },
    );
  const cancel = (modelId: string, nodeIds?: string[]) =>
    app.gql<{ cancelDownload: State[] }>(
      `mutation($m: ID!, $n: [ID!]) { cancelDownload(modelId: $m, nodeIds: $n) { ${STATE} } }`,
      { m: modelId, n: nodeIds ?? null },
    );
  const states = async (modelId: string) =>
    (
      await replica.data<{ model: { status: string; nodes: State[] } }>(
        `query($id: ID!) { model(id: $id) { status nodes { ${STATE} } } }`,
        { id: modelId },
      )
    ).model;
  const fileOf = (agent: AgentHandle, modelId: string, file: string) =>
    join(agent.modelsDir, 'models', encodeURIComponent(modelId), file);
  const cdnGets = (file: string) =>
    hub.requests.filter((r) => r.route === 'cdn' && r.method === 'GET' && r.path.includes(file));

  it('rolls out to every node without holding a worker for the transfers, one transfer per node × model', async () => {
    hub.throttle({ bytesPerSecond: 1024 * 1024 });
    hub.clearRequests();
    const first = await download('hf/fleet/big-GGUF');
    expect(first.downloadModel.map((s) => s.lifecycleStatus)).toEqual(['PENDING', 'PENDING']);
    await waitUntil('both transferring', async () => {
      const m = await states('hf/fleet/big-GGUF');
      return m.nodes.length === 2 && m.nodes.every((n) => n.lifecycleStatus === 'DOWNLOADING' && n.bytesDone > 0);
    });
    // Both transfers run, and no dispatch job is active or waiting: the agents own them.
    const counts = await queue.getJobCounts('active', 'waiting', 'delayed');
    expect(counts).toEqual({ active: 0, waiting: 0, delayed: 0 });
    // Asking again while they run joins them (on either replica): no second transfer.
    await replica.data('mutation { downloadModel(modelId: "hf/fleet/big-GGUF") { lifecycleStatus } }');
    await download('hf/fleet/big-GGUF');
    hub.throttle(null);
    await waitUntil(
      'READY on both nodes',
      async () => (await states('hf/fleet/big-GGUF')).nodes.every((n) => n.lifecycleStatus === 'READY'),
      90_000,
    );
    for (const agent of [a, b]) {
      expect(sha256(await readFile(fileOf(agent, 'hf/fleet/big-GGUF', 'big-Q4_K_M.gguf')))).toBe(sha256(big));
    }
    // One GET from byte 0 per node, never a second full transfer.
    expect(cdnGets('big-Q4_K_M.gguf').filter((r) => r.range === null)).toHaveLength(2);
    // Once READY, asking again does not fetch anything.
    const again = await download('hf/fleet/big-GGUF');
    expect(again.downloadModel.map((s) => s.lifecycleStatus)).toEqual(['READY', 'READY']);
    await new Promise((r) => setTimeout(r, 500));
    expect(cdnGets('big-Q4_K_M.gguf').filter((r) => r.range === null)).toHaveLength(2);
  }, 180_000);

  it('cancelDownload stops the transfer and keeps the partial; downloadModel resumes it', async () => {
    hub.throttle({ bytesPerSecond: 1024 * 1024 });
    hub.clearRequests();
    await download('hf/fleet/slow-GGUF', [ids['node-a']!]);
    await waitUntil(
      'a sixth downloaded',
      async () => ((await states('hf/fleet/slow-GGUF')).nodes[0]?.bytesDone ?? 0) > slow.length / 6,
    );
    const res = await cancel('hf/fleet/slow-GGUF', [ids['node-a']!]);
    expect(res.errors).toBeUndefined();
    expect(res.data!.cancelDownload).toEqual([
      expect.objectContaining({ nodeId: ids['node-a'], lifecycleStatus: 'CANCELLED', errorCode: null }),
    ]);
    const partialPath = `${fileOf(a, 'hf/fleet/slow-GGUF', 'slow-Q4_K_M.gguf')}.partial`;
    const kept = (await stat(partialPath)).size;
    expect(kept).toBeGreaterThan(0);
    // Stopped for real: nothing more arrives, and the model is not in ERROR (cancelled is not a failure).
    await new Promise((r) => setTimeout(r, 800));
    expect((await stat(partialPath)).size).toBe(kept);
    const cancelled = await states('hf/fleet/slow-GGUF');
    expect(cancelled.status).toBe('REGISTERED');
    expect(cancelled.nodes[0]).toMatchObject({ lifecycleStatus: 'CANCELLED' });

    // A restarted agent keeps it cancelled (it does not resume on its own).
    await a.restart();
    await new Promise((r) => setTimeout(r, 1500));
    expect((await states('hf/fleet/slow-GGUF')).nodes[0]).toMatchObject({ lifecycleStatus: 'CANCELLED' });
    expect((await stat(partialPath)).size).toBe(kept);

    hub.throttle(null);
    await download('hf/fleet/slow-GGUF', [ids['node-a']!]);
    await waitUntil(
      'READY after the resume',
      async () => (await states('hf/fleet/slow-GGUF')).nodes[0]?.lifecycleStatus === 'READY',
      90_000,
    );
    expect(sha256(await readFile(fileOf(a, 'hf/fleet/slow-GGUF', 'slow-Q4_K_M.gguf')))).toBe(sha256(slow));
    const gets = cdnGets('slow-Q4_K_M.gguf');
    expect(gets[0]!.range).toBeNull();
    const resumedFrom = gets.slice(1).map((r) => Number(/bytes=(\d+)-/.exec(r.range ?? '')?.[1] ?? -1));
    expect(resumedFrom.length).toBeGreaterThan(0);
    expect(Math.min(...resumedFrom)).toBeGreaterThanOrEqual(kept);
  }, 180_000);

  it('cancelDownload names what is wrong', async () => {
    const unknown = await cancel('hf/nope/nope');
    expect(unknown.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND' });
    const badNode = await cancel('hf/fleet/slow-GGUF', ['00000000-0000-0000-0000-000000000000']);
    expect(badNode.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', reason: 'NODE_NOT_FOUND' });
    // Nothing to cancel on a node that holds the model: it is returned as it is.
    const ready = await cancel('hf/fleet/big-GGUF', [ids['node-b']!]);
    expect(ready.data!.cancelDownload).toEqual([expect.objectContaining({ lifecycleStatus: 'READY' })]);
  });

  it('times out a download that makes no progress, retries it by joining the same transfer, then gives up', async () => {
    hub.clearRequests();
    hub.delay({ route: 'cdn', repo: 'fleet/stalled-GGUF', ms: 60_000, times: 1 });
    await download('hf/fleet/stalled-GGUF', [ids['node-b']!]);
    const failed = await waitUntil(
      'ERROR after the deadline',
      async () => {
        const s = (await states('hf/fleet/stalled-GGUF')).nodes[0];
        return s?.lifecycleStatus === 'ERROR' ? s : undefined;
      },
      30_000,
    );
    expect(failed.errorCode).toBe('DOWNLOAD_TIMEOUT');
    expect(failed.errorMessage).toMatch(/No progress from the agent .* \(attempt 2 of 2\)/);
    // Two attempts, one transfer: the retry joined the download the agent still had in flight.
    expect(cdnGets('stalled-Q4_K_M.gguf')).toHaveLength(1);
  });
});
