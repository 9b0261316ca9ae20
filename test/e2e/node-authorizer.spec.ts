import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join as joinPath } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { NodesService } from '../../src/nodes/nodes.service.js';
import { AppHarness } from '../support/app-harness.js';
import { addGgufRepo } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { removeAgent, startAgent, waitUntil, type AgentHandle } from '../support/fleet.js';

/**
 * The node protocol's authorization matrix, tested the way Kubernetes tests its node authorizer: every caller against
 * every node route of the real app, each cell an expected HTTP status. A node may only speak for itself; the join
 * token only joins; API keys (even ADMIN) are not node credentials; only a node's control token opens its agent.
 */
type Caller = 'none' | 'wrong join token' | 'join token' | 'node A' | 'node B' | 'admin key';
const CALLERS: Caller[] = ['none', 'wrong join token', 'join token', 'node A', 'node B', 'admin key'];

interface Joined {
  id: string;
  name: string;
  nodeToken: string;
  controlToken: string;
}

const capacity = { gpus: [], vramTotalBytes: 0, ramTotalBytes: 1, cpuCount: 1, platform: 'linux', memoryBytes: 1 };
const metrics = {
  gpuUsage: null,
  vramUsedBytes: 0,
  vramTotalBytes: 0,
  cpuUsage: 1,
  ramUsedBytes: 1,
  ramTotalBytes: 2,
  requestCount: 0,
};

interface Cell {
  method: string;
  path: string;
  body?: unknown;
  headers: Record<string, string>;
}

/** Control-plane node routes: what each caller sends, and the status it must get. */
const CONTROL_PLANE_ROUTES: Array<{
  route: string;
  expect: Record<Caller, number>;
  request: (caller: Caller, a: Joined, b: Joined, fresh: string) => Cell;
}> = [
  {
    route: 'POST /api/nodes/register (a new name)',
    // A node presents its own credentials in the body: it may rename itself, nothing more.
    expect: { none: 401, 'wrong join token': 403, 'join token': 200, 'node A': 200, 'node B': 200, 'admin key': 401 },
    request: (caller, a, b, fresh) => registerAs(caller, a, b, fresh),
  },
  {
    route: "POST /api/nodes/register (node A's name)",
    expect: { none: 401, 'wrong join token': 403, 'join token': 200, 'node A': 200, 'node B': 409, 'admin key': 401 },
    request: (caller, a, b) => registerAs(caller, a, b, a.name),
  },
  {
    route: 'PUT /api/nodes/:nodeId/heartbeat (node A)',
    expect: { none: 401, 'wrong join token': 401, 'join token': 401, 'node A': 200, 'node B': 403, 'admin key': 403 },
    request: (caller, a, b) => ({
      method: 'PUT',
      path: `/api/nodes/${a.id}/heartbeat`,
      body: { metrics, models: [] },
      headers: headersOf(caller, a, b),
    }),
  },
  {
    route: 'POST /api/nodes/:nodeId/states (node A)',
    expect: { none: 401, 'wrong join token': 401, 'join token': 401, 'node A': 200, 'node B': 403, 'admin key': 403 },
    request: (caller, a, b) => ({
      method: 'POST',
      path: `/api/nodes/${a.id}/states`,
      body: { models: [] },
      headers: headersOf(caller, a, b),
    }),
  },
  {
    // An empty report: past authentication it is refused as invalid (400), so the cell changes nothing.
    route: 'POST /api/nodes/:nodeId/failures (node A)',
    expect: { none: 401, 'wrong join token': 401, 'join token': 401, 'node A': 400, 'node B': 403, 'admin key': 403 },
    request: (caller, a, b) => ({
      method: 'POST',
      path: `/api/nodes/${a.id}/failures`,
      body: {},
      headers: headersOf(caller, a, b),
    }),
  },
  {
    // Where to fetch a file from (peer copy): an empty question is refused as invalid (400) once authenticated.
    route: 'POST /api/nodes/:nodeId/peer-sources (node A)',
    expect: { none: 401, 'wrong join token': 401, 'join token': 401, 'node A': 400, 'node B': 403, 'admin key': 403 },
    request: (caller, a, b) => ({
      method: 'POST',
      path: `/api/nodes/${a.id}/peer-sources`,
      body: {},
      headers: headersOf(caller, a, b),
    }),
  },
  {
    // How a peer transfer ended: an empty report is refused as invalid (400) once authenticated.
    route: 'POST /api/nodes/:nodeId/peer-transfers/:transferId (node A)',
    expect: { none: 401, 'wrong join token': 401, 'join token': 401, 'node A': 400, 'node B': 403, 'admin key': 403 },
    request: (caller, a, b) => ({
      method: 'POST',
      path: `/api/nodes/${a.id}/peer-transfers/00000000-0000-4000-8000-000000000000`,
      body: {},
      headers: headersOf(caller, a, b),
    }),
  },
  {
    // Manifests are read with an API key; node credentials are not API keys. 404: no such model, past the auth.
    route: 'GET /api/models/registry/*modelId/manifest.json',
    expect: { none: 401, 'wrong join token': 401, 'join token': 401, 'node A': 401, 'node B': 401, 'admin key': 404 },
    request: (caller, a, b) => ({
      method: 'GET',
      path: '/api/models/registry/hf/some/model/manifest.json',
      headers: headersOf(caller, a, b),
    }),
  },
];

let app: AppHarness;
let hub: FakeHub;
let wrongJoinToken: string;

function headersOf(caller: Caller, a: Joined, b: Joined): Record<string, string> {
  switch (caller) {
    case 'none':
      return {};
    case 'wrong join token':
      return { 'x-llmfleet-join-token': wrongJoinToken };
    case 'join token':
      return { 'x-llmfleet-join-token': app.config.NODE_JOIN_TOKEN! };
    case 'node A':
      return { authorization: `Bearer ${a.nodeToken}` };
    case 'node B':
      return { authorization: `Bearer ${b.nodeToken}` };
    case 'admin key':
      return { authorization: `Bearer ${app.adminKey}` };
  }
}

function registerAs(caller: Caller, a: Joined, b: Joined, name: string): Cell {
  const own = caller === 'node A' ? a : caller === 'node B' ? b : null;
  return {
    method: 'POST',
    path: '/api/nodes/register',
    body: {
      name,
      url: 'http://127.0.0.1:9',
      protocolVersion: 1,
      capacity,
      ...(own ? { nodeId: own.id, nodeToken: own.nodeToken } : {}),
    },
    headers: headersOf(caller, a, b),
  };
}

async function send(cell: Cell): Promise<Response> {
  return fetch(`${app.url}${cell.path}`, {
    method: cell.method,
    headers: { ...(cell.body === undefined ? {} : { 'content-type': 'application/json' }), ...cell.headers },
    body: cell.body === undefined ? undefined : JSON.stringify(cell.body),
  });
}

async function join(name: string): Promise<Joined> {
  const res = await fetch(`${app.url}/api/nodes/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-llmfleet-join-token': app.config.NODE_JOIN_TOKEN! },
    body: JSON.stringify({ name, url: 'http://127.0.0.1:9', protocolVersion: 1, capacity }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { nodeId: string; nodeToken: string; controlToken: string };
  return { id: body.nodeId, name, nodeToken: body.nodeToken, controlToken: body.controlToken };
}

async function nodeRows(): Promise<Array<{ id: string; name: string; token_hash: string }>> {
  const nest = app.app;
  const { DataSource } = await import('typeorm');
  return nest.get(DataSource).query('SELECT id, name, token_hash FROM nodes ORDER BY name');
}

/** Every route the app registers under /api/nodes, as `METHOD /path`. */
function nodeRoutes(): string[] {
  const express = app.app.getHttpAdapter().getInstance() as {
    router: { stack: Array<{ route?: { path: string; methods: Record<string, boolean> } }> };
  };
  return express.router.stack
    .flatMap((layer) =>
      layer.route ? Object.keys(layer.route.methods).map((m) => `${m.toUpperCase()} ${layer.route!.path}`) : [],
    )
    .filter((r) => r.includes(' /api/nodes'))
    .sort();
}

beforeAll(async () => {
  hub = await FakeHub.start();
  addGgufRepo(hub, 'org/pushed-GGUF', ['pushed-Q4_K_M.gguf']);
  app = await AppHarness.start({ HF_ENDPOINT: hub.url });
  wrongJoinToken = `wrong-${randomBytes(24).toString('base64url')}`;
});

afterAll(async () => {
  await app?.stop();
  await hub?.stop();
});

describe('node authorizer: control-plane routes', () => {
  it('covers every node route the app registers', () => {
    const covered = new Set(CONTROL_PLANE_ROUTES.map((r) => r.route.split(' (')[0]!));
    for (const route of nodeRoutes()) expect(covered).toContain(route);
    expect(nodeRoutes()).toEqual([
      'POST /api/nodes/:nodeId/failures',
      'POST /api/nodes/:nodeId/peer-sources',
      'POST /api/nodes/:nodeId/peer-transfers/:transferId',
      'POST /api/nodes/:nodeId/states',
      'POST /api/nodes/register',
      'PUT /api/nodes/:nodeId/heartbeat',
    ]);
  });

  let serial = 0;
  for (const { route, expect: expected, request } of CONTROL_PLANE_ROUTES) {
    for (const caller of CALLERS) {
      it(`${route} by ${caller}: ${expected[caller]}`, async () => {
        serial += 1;
        const a = await join(`matrix-a-${serial}`);
        const b = await join(`matrix-b-${serial}`);
        const fresh = `matrix-new-${serial}`;
        const before = await nodeRows();
        const res = await send(request(caller, a, b, fresh));
        const text = await res.text();
        expect({ caller, route, status: res.status }).toEqual({ caller, route, status: expected[caller] });
        if (res.status >= 400) {
          // Refused: nothing written, and the answer says what was wrong without echoing any secret.
          expect(await nodeRows()).toEqual(before);
          expect((JSON.parse(text) as { error: { message: string } }).error.message.length).toBeGreaterThan(10);
          for (const secret of [a.nodeToken, b.nodeToken, a.controlToken, b.controlToken, app.adminKey]) {
            expect(text).not.toContain(secret);
          }
        }
        if (route.startsWith('POST /api/nodes/register') && res.status === 200) {
          const joined = JSON.parse(text) as { nodeId: string; nodeToken: string; controlToken: string };
          if (caller === 'node A' || caller === 'node B') {
            // A node proven by its own token keeps its id and tokens.
            const own = caller === 'node A' ? a : b;
            expect(joined).toMatchObject({ nodeId: own.id, nodeToken: own.nodeToken, controlToken: own.controlToken });
          } else {
            // The join token never hands out a node's existing tokens: a taken name gets fresh ones.
            expect([a.nodeToken, b.nodeToken]).not.toContain(joined.nodeToken);
            expect([a.controlToken, b.controlToken]).not.toContain(joined.controlToken);
          }
        }
      });
    }
  }

  it("re-joining under a taken name rotates both of the node's tokens: the old ones die at once", async () => {
    const a = await join('taken-name');
    const again = await join('taken-name');
    expect(again.id).toBe(a.id);
    expect(again.nodeToken).not.toBe(a.nodeToken);
    expect(again.controlToken).not.toBe(a.controlToken);
    const heartbeat = (token: string) =>
      fetch(`${app.url}/api/nodes/${a.id}/heartbeat`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ metrics, models: [] }),
      });
    expect((await heartbeat(a.nodeToken)).status).toBe(403);
    expect((await heartbeat(again.nodeToken)).status).toBe(200);
    // What the control plane now presents to the agent is the new control token, not the old one.
    const nodes = app.app.get(NodesService);
    expect(await nodes.controlTokenOf((await nodes.find(a.id))!)).toBe(again.controlToken);
  });

  it("a state push under another node's token, a rotated one or none writes no state; under its own it does", async () => {
    const model = 'hf/org/pushed-GGUF';
    await app.data('mutation($u: String!) { registerHfModel(url: $u) { id } }', { u: 'org/pushed-GGUF' });
    const a = await join('pusher-a');
    const b = await join('pusher-b');
    let version = 0;
    const push = (token: string | null) =>
      fetch(`${app.url}/api/nodes/${a.id}/states`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({
          models: [
            {
              modelId: model,
              lifecycleStatus: 'READY',
              bytesDone: 1,
              bytesTotal: 1,
              filePath: '/x',
              errorCode: null,
              errorMessage: null,
              version: ++version,
            },
          ],
        }),
      });
    const { DataSource } = await import('typeorm');
    const statesOfA = () =>
      app.app
        .get(DataSource)
        .query('SELECT lifecycle_status, version FROM node_model_states WHERE node_id = $1', [a.id]);
    expect((await push(b.nodeToken)).status).toBe(403);
    expect((await push(null)).status).toBe(401);
    expect((await push('not-a-token')).status).toBe(403);
    const rotated = await join('pusher-a');
    expect((await push(a.nodeToken)).status).toBe(403);
    expect(await statesOfA()).toEqual([]);
    expect((await push(rotated.nodeToken)).status).toBe(200);
    expect(await statesOfA()).toEqual([{ lifecycle_status: 'READY', version: String(version) }]);
  });

  it('keeps node and control tokens out of the database in clear', async () => {
    const a = await join('at-rest');
    const { DataSource } = await import('typeorm');
    const dump = JSON.stringify(await app.app.get(DataSource).query('SELECT * FROM nodes WHERE id = $1', [a.id]));
    expect(dump).not.toContain(a.nodeToken);
    expect(dump).not.toContain(a.controlToken);
  });
});

describe('node authorizer: agent routes', () => {
  let agentA: AgentHandle;
  let agentB: AgentHandle;
  let tokens: Record<'A' | 'B', { nodeToken: string; controlToken: string; url: string }>;

  beforeAll(async () => {
    [agentA, agentB] = await Promise.all([startAgent(app, 'agent-a'), startAgent(app, 'agent-b')]);
    const nodes = app.app.get(NodesService);
    const read = async (agent: AgentHandle) => {
      const saved = JSON.parse(await readFile(joinPath(agent.modelsDir, '.llmfleet', 'node.json'), 'utf8')) as {
        nodeId: string;
        nodeToken: string;
      };
      const node = await waitUntil(`${agent.name} joined`, () => nodes.find(saved.nodeId));
      return { nodeToken: saved.nodeToken, controlToken: await nodes.controlTokenOf(node), url: node.url };
    };
    tokens = { A: await read(agentA), B: await read(agentB) };
  });

  afterAll(async () => {
    await Promise.all([agentA && removeAgent(agentA), agentB && removeAgent(agentB)]);
  });

  it("keeps only the control token's hash on the agent's disk", async () => {
    const saved = await readFile(joinPath(agentA.modelsDir, '.llmfleet', 'node.json'), 'utf8');
    expect(saved).not.toContain(tokens.A.controlToken);
  });

  type AgentCaller = Caller | "A's control token" | "B's control token";
  const AGENT_CALLERS: AgentCaller[] = [...CALLERS, "A's control token", "B's control token"];
  // Only agent A's own control token gets past authentication; the status then is the route's own answer.
  const AGENT_ROUTES: Array<{ method: string; path: string; body?: unknown; allowed: number }> = [
    { method: 'POST', path: '/v1/agent/downloads', body: {}, allowed: 400 },
    { method: 'POST', path: '/v1/agent/models/hf%2Fnone%2Fnone/cancel', body: {}, allowed: 200 },
    { method: 'DELETE', path: '/v1/agent/models/hf%2Fnone%2Fnone', allowed: 204 },
    { method: 'POST', path: '/v1/agent/models/hf%2Fnone%2Fnone/repair', body: {}, allowed: 400 },
    { method: 'POST', path: '/v1/agent/models/hf%2Fnone%2Fnone/verify', body: {}, allowed: 200 },
    { method: 'POST', path: '/v1/chat/completions', body: {}, allowed: 400 },
    { method: 'GET', path: '/v1/models', allowed: 200 },
  ];

  for (const route of AGENT_ROUTES) {
    for (const caller of AGENT_CALLERS) {
      const expected = caller === "A's control token" ? route.allowed : 401;
      it(`agent A: ${route.method} ${route.path} by ${caller}: ${expected}`, async () => {
        const blank = { id: '', name: '', controlToken: '' };
        const a = { ...blank, nodeToken: tokens.A.nodeToken };
        const b = { ...blank, nodeToken: tokens.B.nodeToken };
        const headers =
          caller === "A's control token"
            ? { authorization: `Bearer ${tokens.A.controlToken}` }
            : caller === "B's control token"
              ? { authorization: `Bearer ${tokens.B.controlToken}` }
              : headersOf(caller, a, b);
        const res = await fetch(`${tokens.A.url}${route.path}`, {
          method: route.method,
          headers: { ...(route.body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
          body: route.body === undefined ? undefined : JSON.stringify(route.body),
        });
        await res.text();
        expect({ caller, status: res.status }).toEqual({ caller, status: expected });
      });
    }
  }
});
