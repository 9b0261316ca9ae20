import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AgentClient } from '../../src/nodes/agent.client.js';
import { NodesService } from '../../src/nodes/nodes.service.js';
import { AppHarness } from '../support/app-harness.js';
import { writeCatalog } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { removeAgent, startAgent, waitUntil, type AgentHandle } from '../support/fleet.js';
import { tinyGgufBuffer } from '../support/tiny-gguf.js';

const capacity = { gpus: [], vramTotalBytes: 0, ramTotalBytes: 1, cpuCount: 1, platform: 'linux', memoryBytes: 1 };

function register(app: AppHarness, name: string, url: string): Promise<Response> {
  return fetch(`${app.url}/api/nodes/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-llmfleet-join-token': app.config.NODE_JOIN_TOKEN! },
    body: JSON.stringify({ name, url, protocolVersion: 1, capacity }),
  });
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Where the control plane may send its requests, and what the Hub's file names may make an agent write. */
describe('agent URLs', () => {
  let app: AppHarness;
  let narrowed: AppHarness;

  beforeAll(async () => {
    app = await AppHarness.start();
    narrowed = await AppHarness.start({ AGENT_NETWORKS: '10.0.0.0/8, 192.168.0.0/16' });
  });

  afterAll(async () => {
    await narrowed?.stop();
    await app?.stop();
  });

  const nodeNames = async (on: AppHarness) =>
    (await on.data<{ nodes: Array<{ name: string }> }>('{ nodes { name } }')).nodes.map((n) => n.name);

  it.each([
    ['http://169.254.169.254/latest', /Agent URL http:\/\/169\.254\.169\.254\/latest is refused: .*link-local/],
    ['http://[fe80::1]:3100', /fe80::\/10/],
    ['http://0.0.0.0:3100', /unspecified address/],
    ['http://224.0.0.251:3100', /multicast/],
    ['http://agent:s3cret-pass@127.0.0.1:3100', /must not carry credentials/],
  ])('refuses %s at registration (400, naming the URL and the rule), writing nothing', async (url, rule) => {
    const res = await register(app, 'refused-url', url);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('agent_url_refused');
    expect(body.error.message).toMatch(rule);
    expect(body.error.message).not.toContain('s3cret-pass');
    expect(await nodeNames(app)).not.toContain('refused-url');
  });

  it('allows loopback and LAN addresses, and AGENT_NETWORKS narrows them', async () => {
    expect((await register(app, 'loopback', 'http://127.0.0.1:3100')).status).toBe(200);
    expect((await register(app, 'lan', 'http://192.168.7.7:3100')).status).toBe(200);
    const outside = await register(narrowed, 'outside', 'http://127.0.0.1:3100');
    expect(outside.status).toBe(400);
    expect(((await outside.json()) as { error: { message: string } }).error.message).toBe(
      'Agent URL http://127.0.0.1:3100 is refused: 127.0.0.1 is outside AGENT_NETWORKS (10.0.0.0/8, 192.168.0.0/16)',
    );
    expect((await register(narrowed, 'inside', 'http://10.20.30.40:3100')).status).toBe(200);
    expect(await nodeNames(narrowed)).toEqual(['inside']);
  });

  it('never follows a redirect from an agent', async () => {
    let stolen = 0;
    const target = createServer((_req, res) => {
      stolen += 1;
      res.end('{}');
    });
    const targetUrl = await listen(target);
    const seen: string[] = [];
    const redirecting = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(307, { location: `${targetUrl}/steal` }).end();
    });
    const agentUrl = await listen(redirecting);
    try {
      const joined = (await (await register(app, 'redirecting', agentUrl)).json()) as { nodeId: string };
      const node = (await app.app.get(NodesService).find(joined.nodeId))!;
      await expect(app.app.get(AgentClient).verify(node, 'some/model')).rejects.toThrow(
        `Agent of node redirecting answered a redirect (307 to ${targetUrl}/steal) for /v1/agent/models/some%2Fmodel/verify: the control plane never follows redirects from agents`,
      );
      expect(seen).toEqual(['POST /v1/agent/models/some%2Fmodel/verify']);
      expect(stolen).toBe(0);
    } finally {
      redirecting.close();
      target.close();
    }
  });
});

describe('Hub file names and MODELS_DIR', () => {
  let hub: FakeHub;
  let app: AppHarness;
  let agent: AgentHandle;
  let nodeId: string;
  let outside: string;
  const content = tinyGgufBuffer({ seed: 11 });

  beforeAll(async () => {
    hub = await FakeHub.start();
    for (const [repo, path] of [
      ['evil/dotdot-GGUF', '../../escape-Q4_K_M.gguf'],
      ['evil/absolute-GGUF', '/tmp/escape-Q4_K_M.gguf'],
      ['evil/backslash-GGUF', '..\\..\\escape-Q4_K_M.gguf'],
      ['evil/drive-GGUF', 'C:/escape-Q4_K_M.gguf'],
    ] as const) {
      hub.addRepo({ id: repo, files: [{ path, content }] });
    }
    hub.addRepo({ id: 'fleet/linked-GGUF', files: [{ path: 'linked-Q4_K_M.gguf', content }] });
    hub.addRepo({ id: 'fleet/dirlink-GGUF', files: [{ path: 'dirlink-Q4_K_M.gguf', content }] });
    app = await AppHarness.start({
      HF_ENDPOINT: hub.url,
      SUPPORTED_MODELS_PATH: await writeCatalog([]),
      NODE_HEARTBEAT_INTERVAL_MS: '300',
      DOWNLOAD_ATTEMPTS: '1',
    });
    agent = await startAgent(app, 'safe-node', { AGENT_VERIFY_LOAD: 'false' });
    nodeId = await waitUntil('the agent joined', async () => {
      const { nodes } = await app.data<{ nodes: Array<{ id: string }> }>('{ nodes(status: ONLINE) { id } }');
      return nodes[0]?.id;
    });
    outside = await mkdtemp(join(tmpdir(), 'llmfleet-outside-'));
  });

  afterAll(async () => {
    await (agent && removeAgent(agent));
    await app?.stop();
    await hub?.stop();
    if (outside) await rm(outside, { recursive: true, force: true });
  });

  it.each([
    ['evil/dotdot-GGUF', '"../../escape-Q4_K_M.gguf" (it has a ".." segment)'],
    ['evil/absolute-GGUF', '"/tmp/escape-Q4_K_M.gguf" (it is an absolute path)'],
    ['evil/backslash-GGUF', '"..\\\\..\\\\escape-Q4_K_M.gguf" (it contains a backslash)'],
    ['evil/drive-GGUF', '"C:/escape-Q4_K_M.gguf" (it starts with a drive letter)'],
  ])('refuses a Hub listing with an unsafe file name (%s) before any file request', async (repo, named) => {
    hub.clearRequests();
    const res = await app.gql('mutation($u: String!) { registerHfModel(url: $u) { id } }', { u: repo });
    expect(res.errors?.[0]?.message).toContain(`it lists an unsafe file name ${named}`);
    expect(hub.requests.filter((r) => r.route !== 'api')).toEqual([]);
    const { models } = await app.data<{ models: Array<{ id: string }> }>('{ models { id } }');
    expect(models.map((m) => m.id)).not.toContain(`hf/${repo}`);
  });

  it('an agent refuses a download request with an unsafe path (400) and writes nothing', async () => {
    const nodes = app.app.get(NodesService);
    const node = (await nodes.find(nodeId))!;
    const res = await fetch(`${node.url}/v1/agent/downloads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await nodes.controlTokenOf(node)}` },
      body: JSON.stringify({
        modelId: 'hf/evil/direct',
        revision: 'main',
        files: [{ path: '../../../escape.gguf', url: `${hub.url}/x`, size: 1, sha256: 'a'.repeat(64), role: 'MODEL' }],
      }),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(
      /unsafe file path \\"\.\.\/\.\.\/\.\.\/escape\.gguf\\": it has a \\"\.\.\\" segment/,
    );
    expect(await readdir(join(agent.modelsDir, 'models')).catch(() => [])).not.toContain(
      encodeURIComponent('hf/evil/direct'),
    );
  });

  const downloadAndFail = async (modelId: string, register = true) => {
    if (register) await app.data('mutation($u: String!) { registerHfModel(url: $u) { id } }', { u: modelId.slice(3) });
    await app.gql('mutation($m: ID!) { downloadModel(modelId: $m) { lifecycleStatus } }', { m: modelId });
    return waitUntil(`${modelId} failed`, async () => {
      const { model } = await app.data<{
        model: { nodes: Array<{ lifecycleStatus: string; errorCode: string | null; errorMessage: string | null }> };
      }>('query($id: ID!) { model(id: $id) { nodes { lifecycleStatus errorCode errorMessage } } }', { id: modelId });
      return model.nodes[0]?.lifecycleStatus === 'ERROR' ? model.nodes[0] : undefined;
    });
  };

  it('never follows a symbolic link planted for a file in MODELS_DIR', async () => {
    const victim = join(outside, 'victim.txt');
    await writeFile(victim, 'precious');
    const dir = join(agent.modelsDir, 'models', encodeURIComponent('hf/fleet/linked-GGUF'));
    await mkdir(dir, { recursive: true });
    await symlink(victim, join(dir, 'linked-Q4_K_M.gguf.partial'));
    const failed = await downloadAndFail('hf/fleet/linked-GGUF');
    expect(failed.errorMessage).toMatch(
      /linked-Q4_K_M\.gguf\.partial is a symbolic link: llmfleet never follows links/,
    );
    expect(await readFile(victim, 'utf8')).toBe('precious');
  });

  it('never follows a symbolic link planted for a directory in MODELS_DIR', async () => {
    // A linked directory holding a manifest: a restarted agent must not adopt (and read through) it.
    await app.data('mutation { registerHfModel(url: "fleet/dirlink-GGUF") { id } }');
    const file = { path: 'dirlink-Q4_K_M.gguf', url: `${hub.url}/x`, size: 1, sha256: 'a'.repeat(64), role: 'MODEL' };
    await writeFile(
      join(outside, 'llmfleet-model.json'),
      JSON.stringify({ modelId: 'hf/fleet/dirlink-GGUF', revision: 'main', files: [file] }),
    );
    await symlink(outside, join(agent.modelsDir, 'models', encodeURIComponent('hf/fleet/dirlink-GGUF')));
    const query = 'query($id: ID!) { node(id: $id) { url lastHeartbeatAt models { modelId } } }';
    type NodeView = { url: string; lastHeartbeatAt: string; models: Array<{ modelId: string }> };
    const before = (await app.data<{ node: NodeView }>(query, { id: nodeId })).node;
    await agent.restart();
    // Re-joined (a new port) and heartbeated twice since: every model it adopted at start has been reported.
    let rejoined: NodeView | null = null;
    const reported = await waitUntil('the restarted agent reported its models', async () => {
      const { node } = await app.data<{ node: NodeView }>(query, { id: nodeId });
      if (node.url === before.url) return undefined;
      rejoined ??= node;
      return node.lastHeartbeatAt > rejoined.lastHeartbeatAt ? node : undefined;
    });
    expect(reported.models.map((m) => m.modelId)).not.toContain('hf/fleet/dirlink-GGUF');
    const filesBefore = await readdir(outside);
    const failed = await downloadAndFail('hf/fleet/dirlink-GGUF', false);
    expect(failed.errorMessage).toMatch(/dirlink-GGUF is a symbolic link: llmfleet never follows links/);
    expect(await readdir(outside)).toEqual(filesBefore);
  });
});
