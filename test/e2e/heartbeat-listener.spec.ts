import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AppHarness } from '../support/app-harness.js';
import { addGgufRepo, catalogEntry, writeCatalog } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { createServer, type Server, type Socket } from 'node:net';
import { removeAgent, startAgent, waitUntil, type AgentHandle } from '../support/fleet.js';
import { MAIN_JS, startProcess, type RunningProcess } from '../support/processes.js';
import { SimFleet } from '../support/sim-agents.js';

const JOIN_TOKEN = 'heartbeat-listener-join-token-0123456789ab';
const MODEL = 'listener-one';

/** Registers a node named `name` that no agent serves, as an agent would (through `headers`' proxy, if any). */
async function registerProbe(
  baseUrl: string,
  name: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: { heartbeatUrl?: string; nodeId: string; nodeToken: string } }> {
  const res = await fetch(`${baseUrl}/api/nodes/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-llmfleet-join-token': JOIN_TOKEN, ...headers },
    body: JSON.stringify({
      name,
      url: 'http://127.0.0.1:9',
      protocolVersion: 1,
      capacity: { gpus: [], vramTotalBytes: 0, ramTotalBytes: 1e9, cpuCount: 1, platform: 'linux', memoryBytes: 1e9 },
    }),
  });
  return {
    status: res.status,
    body: (await res.json()) as { heartbeatUrl?: string; nodeId: string; nodeToken: string },
  };
}

/**
 * NODE_HEARTBEAT_PORT (on by default): a control plane (its own process) serving heartbeats on a thread and port of their own. Agents
 * learn the URL when they register; heartbeats sent there are recorded with everything they carry (liveness, metrics,
 * model states), and anything the thread does not record itself gets the main port's own answer.
 */
describe('heartbeat listener on its own thread', () => {
  let hub: FakeHub;
  let b: AppHarness;
  let c: RunningProcess;
  let cUrl: string;
  let listenerPort: string;
  let fleet: SimFleet | null = null;

  beforeAll(async () => {
    hub = await FakeHub.start();
    addGgufRepo(hub, `org/${MODEL}-GGUF`, [`${MODEL}-Q4_K_M.gguf`]);
    const catalog = await writeCatalog([
      catalogEntry({ id: MODEL, repo: `org/${MODEL}-GGUF`, recommended_filename: `${MODEL}-Q4_K_M.gguf` }),
    ]);
    const settings = {
      HF_ENDPOINT: hub.url,
      SUPPORTED_MODELS_PATH: catalog,
      NODE_JOIN_TOKEN: JOIN_TOKEN,
      NODE_HEARTBEAT_INTERVAL_MS: '500',
      NODE_OFFLINE_AFTER_MS: '5000',
    };
    b = await AppHarness.start(settings);
    c = startProcess(MAIN_JS, {
      ...settings,
      ...b.replicaProcessEnv(),
      LOG_LEVEL: 'warn',
      NODE_HEARTBEAT_PORT: '0',
    });
    await c.waitForOutput(/heartbeat listener on http:\/\/[^:]+:\d+/, 60_000);
    cUrl = `http://127.0.0.1:${/listening on http:\/\/[^:]+:(\d+)/.exec(c.output())![1]}`;
    listenerPort = /heartbeat listener on http:\/\/[^:]+:(\d+)/.exec(c.output())![1]!;
    await b.data('mutation($id: ID!) { registerModel(modelId: $id) { id } }', { id: MODEL });
  });

  afterAll(async () => {
    await fleet?.stop();
    await c?.stop('SIGKILL');
    await b?.stop();
    await hub?.stop();
  });

  it('names its URL at registration; heartbeats sent there are recorded with their metrics and model states', async () => {
    const { body: joined } = await registerProbe(cUrl, 'listener-probe');
    expect(joined.heartbeatUrl).toBe(`http://127.0.0.1:${listenerPort}`);

    // Simulated agents follow heartbeatUrl as the agent does; each holds the model READY.
    fleet = new SimFleet({ replicaUrls: [cUrl], joinToken: JOIN_TOKEN, downloadMs: 1000 });
    await fleet.grow(3, () => [MODEL], 4096);
    const ids = fleet.nodeIds();
    await waitUntil('every simulated node ONLINE with metrics and its READY state, from heartbeats', async () => {
      const { nodes } = await b.data<{
        nodes: Array<{
          id: string;
          status: string;
          metrics: { cpuUsage: number } | null;
          models: Array<{ modelId: string; lifecycleStatus: string }>;
        }>;
      }>('{ nodes { id status metrics { cpuUsage } models { modelId lifecycleStatus } } }');
      const mine = nodes.filter((n) => ids.has(n.id));
      return (
        mine.length === 3 &&
        mine.every(
          (n) =>
            n.status === 'ONLINE' &&
            n.metrics?.cpuUsage === 7 &&
            n.models.some((m) => m.modelId === MODEL && m.lifecycleStatus === 'READY'),
        )
      );
    });
    const before = fleet.heartbeats.length;
    await waitUntil('more heartbeats answered', async () => fleet!.heartbeats.length >= before + 6);
    expect(fleet.heartbeats.every((h) => h.ok)).toBe(true);
    expect(fleet.heartbeatErrors).toEqual([]);
  });

  it("answers what it does not record with the main port's own refusal, and serves nothing but heartbeats", async () => {
    const unknown = '00000000-0000-4000-8000-000000000000';
    const put = (base: string, token: string) =>
      fetch(`${base}/api/nodes/${unknown}/heartbeat`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ metrics: {}, models: [] }),
      }).then(async (res) => ({ status: res.status, body: await res.text() }));
    const viaListener = await put(`http://127.0.0.1:${listenerPort}`, 'not-a-token');
    const viaMain = await put(cUrl, 'not-a-token');
    expect(viaListener.status).toBeGreaterThanOrEqual(400);
    expect(viaListener).toEqual(viaMain);
    const noToken = await fetch(`http://127.0.0.1:${listenerPort}/api/nodes/${unknown}/heartbeat`, { method: 'PUT' });
    expect(noToken.status).toBe(401);
    // Heartbeats only: the rest of the API is not reachable through this port.
    const graphql = await fetch(`http://127.0.0.1:${listenerPort}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${b.adminKey}` },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(graphql.status).toBe(404);
    expect(((await graphql.json()) as { error: { message: string } }).error.message).toMatch(/heartbeat only/);
  });

  it("an agent that registers through a proxy is not sent to the listener: its port is not the proxy's", async () => {
    const register = (name: string, headers: Record<string, string>) => registerProbe(cUrl, name, headers);
    const direct = await register('direct-probe', {});
    expect(direct.status).toBe(200);
    expect(direct.body.heartbeatUrl).toBe(`http://127.0.0.1:${listenerPort}`);
    for (const header of <Array<Record<string, string>>>[
      { 'x-forwarded-for': '10.0.0.7' },
      { 'x-forwarded-proto': 'https' },
      { forwarded: 'for=10.0.0.7;proto=https' },
    ]) {
      const proxied = await register('proxied-probe', header);
      expect(proxied.status).toBe(200);
      expect(proxied.body.heartbeatUrl).toBeUndefined();
    }
  });

  it('listens at PORT + 1 by default, and a port already taken stops the start with a line naming the setting', async () => {
    const freePort = async () => {
      const probe = createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      const port = (probe.address() as { port: number }).port;
      await new Promise((resolve) => probe.close(resolve));
      return port;
    };
    // A main port whose next one is free too.
    let port = 0;
    for (let tries = 0; tries < 20 && port === 0; tries++) {
      const candidate = await freePort();
      const next = createServer();
      const free = await new Promise<boolean>((resolve) => {
        next.once('error', () => resolve(false));
        next.listen(candidate + 1, '127.0.0.1', () => resolve(true));
      });
      if (free) await new Promise((resolve) => next.close(resolve));
      if (free && candidate < 65535) port = candidate;
    }
    const env = { HF_ENDPOINT: hub.url, NODE_JOIN_TOKEN: JOIN_TOKEN, ...b.replicaProcessEnv(), LOG_LEVEL: 'warn' };
    const byDefault = startProcess(MAIN_JS, { ...env, PORT: String(port) });
    try {
      await byDefault.waitForOutput(/heartbeat listener on/, 60_000);
      expect(byDefault.output()).toContain(`heartbeat listener on http://127.0.0.1:${port + 1} (its own thread)`);
      const joined = await registerProbe(`http://127.0.0.1:${port}`, 'default-port-probe');
      expect(joined.body.heartbeatUrl).toBe(`http://127.0.0.1:${port + 1}`);
    } finally {
      await byDefault.stop('SIGKILL');
    }

    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const takenPort = (taken.address() as { port: number }).port;
    try {
      const refused = startProcess(MAIN_JS, { ...env, NODE_HEARTBEAT_PORT: String(takenPort) });
      expect(await refused.exited).toBe(1);
      expect(refused.output()).toContain(
        `Port ${takenPort} is in use: the heartbeat listener needs it (NODE_HEARTBEAT_PORT). Set NODE_HEARTBEAT_PORT to a free port, or to "off" to take heartbeats on PORT.`,
      );
      expect(refused.output()).not.toMatch(/^\s+at /m);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('an agent whose listener never answers falls back to the main port once and stays there', async () => {
    // A "listener" that accepts connections and never answers, as a firewall that drops packets would look.
    const sockets: Socket[] = [];
    const heartbeats: string[] = [];
    const hole: Server = createServer((socket) => {
      sockets.push(socket);
      socket.on('data', (chunk: Buffer) => {
        const line = chunk.toString('latin1').split('\r\n')[0]!;
        if (/^[A-Z]+ \//.test(line)) heartbeats.push(line);
      });
    });
    await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
    const holeUrl = `http://127.0.0.1:${(hole.address() as { port: number }).port}`;
    const d = startProcess(MAIN_JS, {
      HF_ENDPOINT: hub.url,
      NODE_JOIN_TOKEN: JOIN_TOKEN,
      NODE_HEARTBEAT_INTERVAL_MS: '500',
      NODE_OFFLINE_AFTER_MS: '5000',
      ...b.replicaProcessEnv(),
      LOG_LEVEL: 'warn',
      NODE_HEARTBEAT_PORT: '0',
      NODE_HEARTBEAT_PUBLIC_URL: holeUrl,
    });
    let agent: AgentHandle | null = null;
    try {
      await d.waitForOutput(/heartbeat listener on/, 60_000);
      const dUrl = `http://127.0.0.1:${/listening on http:\/\/[^:]+:(\d+)/.exec(d.output())![1]}`;
      agent = await startAgent({ url: dUrl, config: { NODE_JOIN_TOKEN: JOIN_TOKEN } }, 'hole-node');
      const lastBeat = async () => {
        const { nodes } = await b.data<{ nodes: Array<{ name: string; status: string; lastHeartbeatAt: string }> }>(
          '{ nodes { name status lastHeartbeatAt } }',
        );
        return nodes.find((n) => n.name === 'hole-node');
      };
      // The first heartbeat went to the hole and timed out; the retry went to the main port.
      await waitUntil(
        'hole-node heartbeats through the main port',
        async () => heartbeats.length >= 1 && (await lastBeat())?.lastHeartbeatAt,
      );
      const first = Date.parse((await lastBeat())!.lastHeartbeatAt);
      // Ten intervals later: heartbeats kept arriving, the node stayed ONLINE, and the hole was not tried again.
      await new Promise((r) => setTimeout(r, 5000));
      const later = (await lastBeat())!;
      expect(later.status).toBe('ONLINE');
      expect(Date.parse(later.lastHeartbeatAt)).toBeGreaterThan(first + 2000);
      expect(heartbeats).toEqual([expect.stringMatching(/^PUT \/api\/nodes\/[0-9a-f-]+\/heartbeat HTTP\/1\.1$/)]);
    } finally {
      if (agent) await removeAgent(agent);
      await d.stop('SIGKILL');
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => hole.close(resolve));
    }
  });
});
