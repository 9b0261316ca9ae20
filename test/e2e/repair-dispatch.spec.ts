import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
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
  status: string;
  reason: string;
  fromZero: boolean;
  attempts: number;
  errorMessage: string | null;
  timeoutMs: number;
}
const REPAIR = 'id nodeId status reason fromZero attempts errorMessage timeoutMs';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Repairs are owned by the agents (issue 9): the control plane's job only tells the agent and returns, the agent's
 * reported states end the repair, and a sweep fails repairs that outlive their deadline.
 */
describe('repairs without a worker held for the transfer', () => {
  let hub: FakeHub;
  let app: AppHarness;
  let a: AgentHandle;
  let b: AgentHandle;
  const ids: Record<string, string> = {};
  const bytes: Record<string, Buffer> = {};

  beforeAll(async () => {
    hub = await FakeHub.start();
    // 'left', 'right' and 'mixed' get a repair timeout of about 25 s (3 s + 2 MiB at 100 kB/s); 'late' one of about 3 s.
    for (const [i, name] of ['left', 'right', 'mixed', 'late', 'lost'].entries()) {
      bytes[name] = tinyGgufBuffer({ seed: 40 + i, padToBytes: name === 'late' ? undefined : 2 * 1024 * 1024 });
      hub.addRepo({ id: `fleet/${name}-GGUF`, files: [{ path: `${name}-Q4_K_M.gguf`, content: bytes[name] }] });
    }
    app = await AppHarness.start({
      HF_ENDPOINT: hub.url,
      SUPPORTED_MODELS_PATH: await writeCatalog([]),
      NODE_HEARTBEAT_INTERVAL_MS: '500',
      // Far beyond the short repair's deadline: a silent agent's repair must end by its deadline, not by the node
      // going OFFLINE.
      NODE_OFFLINE_AFTER_MS: '60000',
      REPAIR_TIMEOUT_BASE_MS: '3000',
      REPAIR_MIN_BYTES_PER_SECOND: '100000',
      PEER_COPY: 'false',
    });
    [a, b] = await Promise.all([startAgent(app, 'node-a'), startAgent(app, 'node-b')]);
    const nodes = await waitUntil('agents joined', async () => {
      const { nodes: n } = await app.data<{ nodes: Array<{ id: string; name: string }> }>(
        '{ nodes(status: ONLINE) { id name } }',
      );
      return n.length === 2 ? n : undefined;
    });
    for (const n of nodes) ids[n.name] = n.id;
    await register('left', ids['node-a']!);
    await register('right', ids['node-b']!);
    await register('mixed', ids['node-b']!);
    await register('late', ids['node-a']!);
    await register('lost', ids['node-b']!);
  }, 120_000);

  afterAll(async () => {
    a?.process.child.kill('SIGCONT');
    await Promise.all([a && removeAgent(a), b && removeAgent(b)]);
    await app?.stop();
    await hub?.stop();
  });

  const modelId = (name: string) => `hf/fleet/${name}-GGUF`;
  const fileOn = (agent: AgentHandle, name: string) =>
    join(agent.modelsDir, 'models', encodeURIComponent(modelId(name)), `${name}-Q4_K_M.gguf`);

  async function register(name: string, nodeId: string): Promise<void> {
    await app.data('mutation($u: String!) { registerHfModel(url: $u) { id } }', { u: `fleet/${name}-GGUF` });
    await app.data('mutation($m: ID!, $n: [ID!]) { downloadModel(modelId: $m, nodeIds: $n) { lifecycleStatus } }', {
      m: modelId(name),
      n: [nodeId],
    });
    await waitUntil(`${name} READY`, async () => (await lifecycle(name, nodeId)) === 'READY', 30_000);
  }
  async function nodeState(name: string, nodeId: string) {
    const { model } = await app.data<{
      model: { nodes: Array<{ nodeId: string; lifecycleStatus: string; errorMessage: string | null }> };
    }>('query($id: ID!) { model(id: $id) { nodes { nodeId lifecycleStatus errorMessage } } }', { id: modelId(name) });
    return model.nodes.find((n) => n.nodeId === nodeId);
  }
  const lifecycle = async (name: string, nodeId: string) => (await nodeState(name, nodeId))?.lifecycleStatus;
  const repairs = async (name: string) =>
    (
      await app.data<{ repairs: Repair[] }>(`query($m: ID) { repairs(modelId: $m) { ${REPAIR} } }`, {
        m: modelId(name),
      })
    ).repairs;
  const repairByHand = (name: string, nodeId: string) =>
    app.data<{ repairModel: Repair }>(
      `mutation($m: ID!, $n: ID!) { repairModel(modelId: $m, nodeId: $n) { ${REPAIR} } }`,
      {
        m: modelId(name),
        n: nodeId,
      },
    );
  /** Repair jobs a worker is running right now, as /metrics reports them (read from Redis at scrape time). */
  async function activeRepairJobs(): Promise<number> {
    const text = await (await fetch(`${app.url}/metrics`, { headers: app.authHeaders() })).text();
    const line = text
      .split('\n')
      .find(
        (l) => l.startsWith('llmfleet_queue_jobs{') && l.includes('queue="repairs"') && l.includes('state="active"'),
      );
    if (!line) throw new Error('no llmfleet_queue_jobs sample for the repairs queue');
    return Number(line.split(' ').at(-1));
  }

  it('two repairs transfer at once while no repair job holds a worker, and both end SUCCESS', async () => {
    // Every Hub request for the two models stalls 4 s: each repair's transfer outlasts its dispatch by far.
    hub.delay({ route: 'all', repo: 'fleet/left-GGUF', ms: 4000 });
    hub.delay({ route: 'all', repo: 'fleet/right-GGUF', ms: 4000 });
    try {
      const started = await Promise.all([repairByHand('left', ids['node-a']!), repairByHand('right', ids['node-b']!)]);
      expect(started.map((s) => s.repairModel.status)).toEqual(['IN_PROGRESS', 'IN_PROGRESS']);
      // Both transfers under way, both repairs in progress, and the repairs queue has no job running: the agents own
      // the repairs (before, each repair's job held a worker until its transfer ended).
      await waitUntil(
        'both repairs transferring with no repair job active',
        async () => {
          const tasks = [(await repairs('left'))[0], (await repairs('right'))[0]];
          if (!tasks.every((t) => t?.status === 'IN_PROGRESS' && t.attempts === 1)) return false;
          const states = [await lifecycle('left', ids['node-a']!), await lifecycle('right', ids['node-b']!)];
          if (!states.every((s) => s === 'DOWNLOADING')) return false;
          return (await activeRepairJobs()) === 0;
        },
        20_000,
      );
    } finally {
      hub.reset();
    }
    const done = await waitUntil(
      'both repairs SUCCESS',
      async () => {
        const tasks = [(await repairs('left'))[0], (await repairs('right'))[0]];
        return tasks.every((t) => t?.status === 'SUCCESS') ? tasks : undefined;
      },
      60_000,
    );
    expect(done.map((t) => [t!.nodeId, t!.attempts, t!.errorMessage])).toEqual([
      [ids['node-a'], 1, null],
      [ids['node-b'], 1, null],
    ]);
    expect(sha256(await readFile(fileOn(a, 'left')))).toBe(sha256(bytes.left!));
    expect(sha256(await readFile(fileOn(b, 'right')))).toBe(sha256(bytes.right!));
    expect(await lifecycle('left', ids['node-a']!)).toBe('READY');
    expect(await lifecycle('right', ids['node-b']!)).toBe('READY');
  }, 120_000);

  it('wrong bytes under a truncated file: the resumed attempt fails its checksum, one more from zero repairs it', async () => {
    const path = fileOn(b, 'mixed');
    const broken = Buffer.from(await readFile(path));
    const middle = Math.floor(broken.length / 2);
    broken[middle] = broken[middle]! ^ 0xff;
    // Truncated (so resumed, not fetched from zero) with a flipped byte in the part kept: only the sha256 can tell.
    await writeFile(path, broken.subarray(0, Math.floor(broken.length * 0.8)));
    await b.restart();
    const done = await waitUntil(
      'repair SUCCESS',
      async () => (await repairs('mixed')).find((r) => r.status === 'SUCCESS'),
      60_000,
    );
    expect(done).toMatchObject({ nodeId: ids['node-b'], reason: 'CORRUPTED', fromZero: false, attempts: 2 });
    expect(await repairs('mixed')).toHaveLength(1);
    expect(sha256(await readFile(path))).toBe(sha256(bytes.mixed!));
    await waitUntil('mixed READY again', async () => (await lifecycle('mixed', ids['node-b']!)) === 'READY', 15_000);
  }, 120_000);

  it('a repair past its deadline is FAILED by the sweep while its agent is still transferring and silent', async () => {
    hub.delay({ route: 'all', repo: 'fleet/late-GGUF', ms: 120_000 });
    const { repairModel: task } = await repairByHand('late', ids['node-a']!);
    expect(task.timeoutMs).toBeLessThan(10_000);
    await waitUntil(
      'the agent transferring',
      async () =>
        (await repairs('late'))[0]?.attempts === 1 && (await lifecycle('late', ids['node-a']!)) === 'DOWNLOADING',
      20_000,
    );
    // The agent goes silent mid-transfer (as a hung machine would): only the control plane's sweep can end the repair.
    a.process.child.kill('SIGSTOP');
    try {
      const failed = await waitUntil(
        'repair FAILED',
        async () => (await repairs('late')).find((r) => r.status === 'FAILED'),
        30_000,
      );
      expect(failed).toMatchObject({ id: task.id, attempts: 1 });
      expect(failed.errorMessage).toBe(`Repair timed out after ${Math.round(task.timeoutMs / 1000)} s`);
    } finally {
      a.process.child.kill('SIGCONT');
      hub.reset();
    }
    // The agent wakes up and gives up on its own past the deadline; its late report changes nothing.
    await waitUntil(
      "the agent's own report of its repair's end",
      async () => (await nodeState('late', ids['node-a']!))?.errorMessage === 'Repair failed: the repair timed out',
      20_000,
    );
    await new Promise((r) => setTimeout(r, 1500));
    const after = await repairs('late');
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({
      id: task.id,
      status: 'FAILED',
      errorMessage: `Repair timed out after ${Math.round(task.timeoutMs / 1000)} s`,
    });
  }, 120_000);

  it("an agent restarted before its repair's transfer began is sent the repair again when it joins: SUCCESS, not a deadline", async () => {
    const file = fileOn(b, 'lost');
    await writeFile(file, bytes.lost!.subarray(0, 100_000));
    hub.delay({ route: 'all', repo: 'fleet/lost-GGUF', ms: 120_000 });
    const { repairModel: task } = await repairByHand('lost', ids['node-b']!);
    try {
      await waitUntil(
        'the agent told of the repair',
        async () =>
          (await repairs('lost')).find((r) => r.id === task.id)?.attempts === 1 &&
          (await lifecycle('lost', ids['node-b']!)) === 'DOWNLOADING',
        20_000,
      );
      // The agent dies before a byte arrived, and nothing of the transfer is left on disk to resume from.
      await b.kill('SIGKILL');
    } finally {
      hub.reset();
    }
    await rm(`${file}.partial`, { force: true });
    await rm(`${file}.partial.ranges`, { force: true });
    await b.restart();
    const done = await waitUntil(
      'the repair ended',
      async () => (await repairs('lost')).find((r) => r.id === task.id && r.status !== 'IN_PROGRESS'),
      60_000,
    );
    expect(done).toMatchObject({ status: 'SUCCESS', attempts: 1, errorMessage: null });
    expect(sha256(await readFile(file))).toBe(sha256(bytes.lost!));
    expect(await repairs('lost')).toHaveLength(1);
  }, 120_000);
});
