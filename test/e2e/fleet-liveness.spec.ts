import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AppHarness, type Subscription } from '../support/app-harness.js';
import { addGgufRepo, catalogEntry, writeCatalog } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { removeAgent, startAgent, waitUntil, type AgentHandle } from '../support/fleet.js';
import { MAIN_JS, startProcess, type RunningProcess } from '../support/processes.js';
import { SimFleet } from '../support/sim-agents.js';

const MODELS = ['fleet-one', 'fleet-two', 'fleet-three'];

/**
 * A TCP relay to one replica. With `holdBodies`, each new connection's request line and headers go through at once and
 * the rest (the body) is kept back: the replica has the request in hand and cannot finish reading it.
 */
class HeaderRelay {
  private holdBodies = false;
  heldRequests = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(target: URL): Promise<HeaderRelay> {
    let relay: HeaderRelay | null = null;
    const server = createServer((client) => relay!.relay(client, target));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    relay = new HeaderRelay(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return relay;
  }

  private relay(client: Socket, target: URL): void {
    const upstream = connect(Number(target.port), target.hostname);
    this.sockets.add(client).add(upstream);
    const hold = this.holdBodies;
    let seen = Buffer.alloc(0);
    let passed = false;
    client.on('data', (chunk: Buffer) => {
      if (!hold) return void upstream.write(chunk);
      if (passed) return;
      seen = Buffer.concat([seen, chunk]);
      const end = seen.indexOf('\r\n\r\n');
      if (end < 0) return;
      passed = true;
      this.heldRequests++;
      upstream.write(seen.subarray(0, end + 4));
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  }

  /** From now on, every request's body is held (connections open before are closed, so the agent opens new ones). */
  hold(): void {
    this.holdBodies = true;
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
const JOIN_TOKEN = 'fleet-liveness-join-token-0123456789abcdef';

interface NodeEvent {
  nodeStatusChanged: { nodeId: string; status: string };
}

/**
 * Two replicas on one Postgres and Redis: B runs in the test, A as its own process (so its event loop can be stopped
 * outright with SIGSTOP, as a long blocking query or GC pause would). Liveness must not depend on one replica's event
 * loop, and dispatches stay one per node × model however many replicas are asked at once.
 */
describe('fleet liveness and dispatch across replicas', () => {
  let hub: FakeHub;
  let b: AppHarness;
  let a: RunningProcess;
  let aUrl: string;
  let agent: AgentHandle | null = null;
  let fleet: SimFleet | null = null;

  beforeAll(async () => {
    hub = await FakeHub.start();
    for (const id of MODELS) addGgufRepo(hub, `org/${id}-GGUF`, [`${id}-Q4_K_M.gguf`]);
    const catalog = await writeCatalog(
      MODELS.map((id) => catalogEntry({ id, repo: `org/${id}-GGUF`, recommended_filename: `${id}-Q4_K_M.gguf` })),
    );
    const settings = {
      HF_ENDPOINT: hub.url,
      SUPPORTED_MODELS_PATH: catalog,
      NODE_JOIN_TOKEN: JOIN_TOKEN,
      NODE_HEARTBEAT_INTERVAL_MS: '2000',
      NODE_OFFLINE_AFTER_MS: '6000',
      PROGRESS_EVENT_INTERVAL_MS: '100',
    };
    b = await AppHarness.start(settings);
    a = startProcess(MAIN_JS, {
      ...settings,
      ...b.replicaProcessEnv(),
      LOG_LEVEL: 'warn',
      // Heartbeats on the main port (one port), whose event loop these cases stall; heartbeat-listener.spec covers
      // the listener's thread.
      NODE_HEARTBEAT_PORT: 'off',
    });
    await a.waitForOutput(/listening on http:\/\/[^:]+:\d+/, 60_000);
    aUrl = `http://127.0.0.1:${/listening on http:\/\/[^:]+:(\d+)/.exec(a.output())![1]}`;
    for (const id of MODELS) await b.data('mutation($id: ID!) { registerModel(modelId: $id) { id } }', { id });
  });

  afterAll(async () => {
    a?.child.kill('SIGCONT');
    if (agent) await removeAgent(agent);
    await fleet?.stop();
    await a?.stop('SIGKILL');
    await b?.stop();
    await hub?.stop();
  });

  const nodeStatus = async (id: string) =>
    (await b.data<{ node: { status: string } | null }>('query($id: ID!) { node(id: $id) { status } }', { id })).node
      ?.status;

  it('keeps a node ONLINE whose heartbeats wait in a stopped replica, and still sees a silent node go OFFLINE', async () => {
    agent = await startAgent({ url: aUrl, config: { NODE_JOIN_TOKEN: JOIN_TOKEN } }, 'node-steady');
    const nodeId = await waitUntil('the agent joined through replica A', async () => {
      const { nodes } = await b.data<{ nodes: Array<{ id: string; name: string; status: string }> }>(
        '{ nodes { id name status } }',
      );
      return nodes.find((n) => n.name === 'node-steady' && n.status === 'ONLINE')?.id;
    });
    const events: Subscription<NodeEvent> = b.subscribe<NodeEvent>(
      'subscription($id: ID) { nodeStatusChanged(nodeId: $id) { nodeId status } }',
      { id: nodeId },
    );
    await new Promise((r) => setTimeout(r, 1000));

    // Replica A stops for longer than NODE_OFFLINE_AFTER_MS: the agent keeps sending, its heartbeats queue in A's
    // sockets. Replica B sweeps meanwhile and must not call the node OFFLINE.
    a.child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 7000));
    a.child.kill('SIGCONT');
    // A catches up with what queued; B sweeps several times more over the threshold.
    await new Promise((r) => setTimeout(r, 8000));
    expect(events.events.filter((e) => e.nodeStatusChanged.status === 'OFFLINE')).toEqual([]);
    expect(await nodeStatus(nodeId)).toBe('ONLINE');

    // A node that really goes silent is still called OFFLINE (the grace for a stalled replica is bounded).
    await agent.kill();
    await events.waitFor(1, 60_000);
    expect(events.events.map((e) => e.nodeStatusChanged.status)).toEqual(['OFFLINE']);
    expect(await nodeStatus(nodeId)).toBe('OFFLINE');
    events.close();
  });

  it('counts a heartbeat from the moment it reaches a replica: never OFFLINE while heartbeats arrive, however long they take to record', async () => {
    // The agent speaks to replica A through a relay that, once told to, passes each request's line and headers at once
    // but withholds its body: A holds every heartbeat and can record none of them, as a replica whose event loop is
    // saturated holds heartbeats it has read but not yet written (and for longer than NODE_OFFLINE_AFTER_MS here).
    const relay = await HeaderRelay.start(new URL(aUrl));
    const slow = await startAgent({ url: relay.url, config: { NODE_JOIN_TOKEN: JOIN_TOKEN } }, 'node-held');
    try {
      const nodeId = await waitUntil('the agent joined through the relay', async () => {
        const { nodes } = await b.data<{ nodes: Array<{ id: string; name: string; status: string }> }>(
          '{ nodes { id name status } }',
        );
        return nodes.find((n) => n.name === 'node-held' && n.status === 'ONLINE')?.id;
      });
      const lastRecorded = async () =>
        (
          await b.data<{ node: { lastHeartbeatAt: string } }>('query($id: ID!) { node(id: $id) { lastHeartbeatAt } }', {
            id: nodeId,
          })
        ).node.lastHeartbeatAt;
      // A has recorded at least one more heartbeat from this node (it knows the node's token).
      const first = await lastRecorded();
      await waitUntil('a second heartbeat recorded', async () => (await lastRecorded()) !== first);
      const events: Subscription<NodeEvent> = b.subscribe<NodeEvent>(
        'subscription($id: ID) { nodeStatusChanged(nodeId: $id) { nodeId status } }',
        { id: nodeId },
      );
      await new Promise((r) => setTimeout(r, 500));

      relay.hold();
      // A request complete before the hold may still be recorded: what counts is from a moment later.
      await new Promise((r) => setTimeout(r, 1000));
      const heldSince = await lastRecorded();
      // Two and a half thresholds: without arrivals counted, B would call the node OFFLINE after one.
      await new Promise((r) => setTimeout(r, 15_000));
      expect(relay.heldRequests).toBeGreaterThan(3);
      expect(await lastRecorded()).toBe(heldSince);
      expect(events.events.filter((e) => e.nodeStatusChanged.status === 'OFFLINE')).toEqual([]);
      expect(await nodeStatus(nodeId)).toBe('ONLINE');

      // The agent stops: its arrivals stop too, and the node goes OFFLINE (within 2 × NODE_OFFLINE_AFTER_MS + a sweep).
      await slow.kill();
      await events.waitFor(1, 60_000);
      expect(events.events.map((e) => e.nodeStatusChanged.status)).toEqual(['OFFLINE']);
      events.close();
    } finally {
      await removeAgent(slow);
      await relay.close();
    }
  });

  it('dispatches exactly once per node × model when both replicas are asked at once, many times', async () => {
    fleet = new SimFleet({ replicaUrls: [aUrl, b.url], joinToken: JOIN_TOKEN, downloadMs: 1500 });
    await fleet.grow(20, () => [], 4096);
    const download = (url: string, modelId: string) =>
      fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${b.adminKey}` },
        body: JSON.stringify({
          query: 'mutation($m: ID!) { downloadModel(modelId: $m) { lifecycleStatus } }',
          variables: { m: modelId },
        }),
      }).then(async (res) => (await res.json()) as { errors?: unknown[] });
    // Every model asked 4 times of each replica, all at once.
    const answers = await Promise.all(
      MODELS.flatMap((m) => [aUrl, b.url, aUrl, b.url, aUrl, b.url, aUrl, b.url].map((url) => download(url, m))),
    );
    expect(answers.filter((r) => r.errors)).toEqual([]);
    await waitUntil('every node × model READY as the agents reported', async () => {
      const { models } = await b.data<{
        models: Array<{ id: string; nodes: Array<{ nodeId: string; lifecycleStatus: string }> }>;
      }>('{ models { id nodes { nodeId lifecycleStatus } } }');
      // The node of the test above went OFFLINE for good: only the simulated agents count.
      const simulated = fleet!.nodeIds();
      return models.every((m) => {
        const mine = m.nodes.filter((s) => simulated.has(s.nodeId));
        return mine.length === 20 && mine.every((s) => s.lifecycleStatus === 'READY');
      });
    });
    // Each agent heard of each model exactly once.
    expect(fleet.commands.size).toBe(20 * MODELS.length);
    expect([...fleet.commands.values()].every((n) => n === 1)).toBe(true);
    // Asking again once READY sends nothing.
    await Promise.all(MODELS.map((m) => download(aUrl, m)));
    await new Promise((r) => setTimeout(r, 1000));
    expect(fleet.duplicateCommands()).toBe(0);
  });
});
