import { createHash } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { formatBytes } from '../../src/cli/output.js';
import { peerGrantKey, signPeerGrant, type PeerGrant } from '../../src/shared/peer-grant.js';
import { AppHarness } from '../support/app-harness.js';
import { launchBrowser, watchPage } from '../support/browser.js';
import { CliUser } from '../support/cli.js';
import { writeCatalog } from '../support/factories.js';
import { FakeHub } from '../support/fake-hub.js';
import { removeAgent, startAgent, waitUntil, type AgentHandle } from '../support/fleet.js';
import { tinyGgufBuffer } from '../support/tiny-gguf.js';

interface State {
  nodeId: string;
  lifecycleStatus: string;
  bytesDone: number;
  bytesTotal: number;
  filePath: string | null;
  source: 'HUB' | 'PEER' | null;
  sourceNodeId: string | null;
  sourceNodeName: string | null;
  peerCopyRefusedReason: string | null;
}

interface Stats {
  bytesFromHub: number;
  bytesFromPeers: number;
  bytesSavedFromHub: number;
  peerTransfers: number;
  reportedPeers: number;
}

const STATE =
  'nodeId lifecycleStatus bytesDone bytesTotal filePath source sourceNodeId sourceNodeName peerCopyRefusedReason';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;
/** Peers upload slowly, so a copy is still under way when a test kills its source. */
const UPLOAD_RATE = 512 * 1024;

/**
 * Peer copy with real agent processes and the local Hub: one download from the Hub per fleet, the rest copied between
 * nodes (each copy's sha256 checked by its receiver), a source lost mid-copy, a source serving wrong bytes, and the
 * grants that guard every upload.
 */
describe('peer copy', () => {
  let hub: FakeHub;
  let app: AppHarness;
  const agents: AgentHandle[] = [];
  const ids: Record<string, string> = {};
  const names: Record<string, string> = {};
  const fleet = tinyGgufBuffer({ seed: 21, padToBytes: 3 * MiB });
  const resume = tinyGgufBuffer({ seed: 22, padToBytes: 4 * MiB });
  const flipped = tinyGgufBuffer({ seed: 23, padToBytes: 2 * MiB });
  const live = tinyGgufBuffer({ seed: 24, padToBytes: 1 * MiB });

  beforeAll(async () => {
    hub = await FakeHub.start();
    hub.addRepo({ id: 'peers/fleet-GGUF', files: [{ path: 'fleet-Q4_K_M.gguf', content: fleet }] });
    hub.addRepo({ id: 'peers/resume-GGUF', files: [{ path: 'resume-Q4_K_M.gguf', content: resume }] });
    hub.addRepo({ id: 'peers/flipped-GGUF', files: [{ path: 'flipped-Q4_K_M.gguf', content: flipped }] });
    hub.addRepo({ id: 'peers/live-GGUF', files: [{ path: 'live-Q4_K_M.gguf', content: live }] });
    app = await AppHarness.start({
      HF_ENDPOINT: hub.url,
      SUPPORTED_MODELS_PATH: await writeCatalog([]),
      NODE_HEARTBEAT_INTERVAL_MS: '300',
      NODE_OFFLINE_AFTER_MS: '10000',
      PEER_COPY_MAX_UPLOADS: '2',
    });
    const env = {
      AGENT_VERIFY_LOAD: 'false',
      AGENT_PEER_UPLOAD_BYTES_PER_SECOND: String(UPLOAD_RATE),
      // The machine is shared and loaded: rate judgements would be about it, not about the peers.
      AGENT_PEER_MIN_BYTES_PER_SECOND: '0',
    };
    // One at a time: four agents booting at once on a loaded machine can miss the start-up wait.
    for (const name of ['peer-a', 'peer-b', 'peer-c', 'peer-d']) agents.push(await startAgent(app, name, env));
    const nodes = await waitUntil('four agents joined', async () => {
      const { nodes } = await app.data<{ nodes: Array<{ id: string; name: string }> }>('{ nodes { id name } }');
      return nodes.length === 4 ? nodes : undefined;
    });
    for (const n of nodes) {
      ids[n.name] = n.id;
      names[n.id] = n.name;
    }
    for (const repo of ['peers/fleet-GGUF', 'peers/resume-GGUF', 'peers/flipped-GGUF', 'peers/live-GGUF']) {
      await app.data('mutation($u: String!) { registerHfModel(url: $u) { id } }', { u: repo });
    }
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => removeAgent(a)));
    await app?.stop();
    await hub?.stop();
  });

  const states = async (modelId: string): Promise<State[]> =>
    (
      await app.data<{ model: { nodes: State[] } }>(`query($id: ID!) { model(id: $id) { nodes { ${STATE} } } }`, {
        id: modelId,
      })
    ).model.nodes;

  const stats = async (): Promise<Stats> =>
    (
      await app.data<{ peerCopyStats: Stats }>(
        '{ peerCopyStats { bytesFromHub bytesFromPeers bytesSavedFromHub peerTransfers reportedPeers } }',
      )
    ).peerCopyStats;

  const download = (modelId: string, nodeNames: string[]) =>
    app.data('mutation($m: ID!, $n: [ID!]) { downloadModel(modelId: $m, nodeIds: $n) { id } }', {
      m: modelId,
      n: nodeNames.map((n) => ids[n]),
    });

  const readyOn = (modelId: string, nodeNames: string[]) =>
    waitUntil(
      `${modelId} is READY on ${nodeNames.join(', ')}`,
      async () => {
        const all = await states(modelId);
        const wanted = nodeNames.map((n) => all.find((s) => s.nodeId === ids[n]));
        if (wanted.some((s) => s?.lifecycleStatus === 'ERROR')) {
          throw new Error(`failed: ${JSON.stringify(wanted)}`);
        }
        return wanted.every((s) => s?.lifecycleStatus === 'READY') ? (wanted as State[]) : undefined;
      },
      120_000,
    );

  const agent = (name: string) => agents.find((a) => a.name === name)!;
  const credentials = async (name: string) =>
    JSON.parse(await readFile(join(agent(name).modelsDir, '.llmfleet', 'node.json'), 'utf8')) as {
      nodeId: string;
      controlTokenHash: string;
    };
  const agentUrl = async (name: string) =>
    (await app.data<{ node: { url: string } }>('query($id: ID!) { node(id: $id) { url } }', { id: ids[name] })).node
      .url;

  it('takes one copy from the Hub for four nodes; the others copy from peers and every sha256 matches', async () => {
    const modelId = 'hf/peers/fleet-GGUF';
    hub.clearRequests();
    const before = await stats();
    await download(modelId, ['peer-a', 'peer-b', 'peer-c', 'peer-d']);
    const ready = await readyOn(modelId, ['peer-a', 'peer-b', 'peer-c', 'peer-d']);

    // One copy from the Hub (the counter sees bytes handed to sockets: never as much as a second copy).
    expect(hub.bytesSent()).toBeGreaterThanOrEqual(fleet.length);
    expect(hub.bytesSent()).toBeLessThan(2 * fleet.length);
    for (const s of ready) expect(sha256(await readFile(s.filePath!))).toBe(sha256(fleet));

    const fromHub = ready.filter((s) => s.source === 'HUB');
    const fromPeers = ready.filter((s) => s.source === 'PEER');
    expect(fromHub).toHaveLength(1);
    expect(fromPeers).toHaveLength(3);
    for (const s of fromPeers) {
      expect(s.sourceNodeId).not.toBe(s.nodeId);
      expect(s.sourceNodeName).toBe(names[s.sourceNodeId!]);
    }
    const after = await stats();
    expect(after.bytesFromHub - before.bytesFromHub).toBe(fleet.length);
    expect(after.bytesFromPeers - before.bytesFromPeers).toBe(3 * fleet.length);
    expect(after.bytesSavedFromHub - before.bytesSavedFromHub).toBe(3 * fleet.length);
    expect(after.peerTransfers - before.peerTransfers).toBe(3);
  });

  it('says where the bytes came from: models show (table, --json) and nodes list in the CLI; the matrix in a browser, live', async () => {
    const modelId = 'hf/peers/fleet-GGUF';
    const held = await states(modelId);
    const totals = await stats();
    const label = (s: State) => (s.source === 'PEER' ? `peer:${s.sourceNodeName}` : s.source);

    const cli = await CliUser.create();
    try {
      const env = { LLMFLEET_URL: app.url, LLMFLEET_API_KEY: app.adminKey };
      const json = await cli.run(['models', 'show', modelId, '--json'], { env });
      expect(json.stderr).toBe('');
      const shown = JSON.parse(json.stdout) as { nodes: Array<Record<string, unknown>> };
      expect(shown.nodes).toHaveLength(4);
      for (const s of held) {
        expect(shown.nodes).toContainEqual(
          expect.objectContaining({
            node: names[s.nodeId],
            status: 'READY',
            source: s.source,
            sourceNodeId: s.sourceNodeId,
            sourceNodeName: s.sourceNodeName,
          }),
        );
      }
      const table = await cli.run(['models', 'show', modelId], { env });
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/^NODE +STATUS +PROGRESS +BYTES +SOURCE +ERROR$/m);
      for (const s of held) {
        expect(table.stdout).toMatch(new RegExp(`^${names[s.nodeId]} +READY +100% +[^/]+ / [^/]+? +${label(s)}$`, 'm'));
      }
      expect(table.stdout.match(/ peer:peer-[abcd]$/gm)).toHaveLength(3);
      const list = await cli.run(['nodes', 'list'], { env });
      expect(list.code).toBe(0);
      expect(list.stdout).toContain(
        `\nPeer copy: ${formatBytes(totals.bytesSavedFromHub)} saved from the Hub (${totals.peerTransfers} copies between nodes); ${formatBytes(totals.bytesFromHub)} fetched from the Hub\n`,
      );
    } finally {
      await cli.cleanup();
    }

    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
      const watch = watchPage(page, app.url);
      expect((await page.request.post(`${app.url}/api/session`, { data: { key: app.adminKey } })).status()).toBe(200);
      await page.goto(`${app.url}/#/fleet`);
      const cell = (model: string, node: string) => page.locator(`[data-cell="${model}|${node}"]`);
      const panel = page.getByRole('region', { name: 'Selected cell' });
      const savings = page.getByTestId('peer-copy-savings');
      await savings.waitFor({ timeout: 60_000 });
      expect(await savings.textContent()).toContain(
        `Saved from the Hub by peer copy: ${formatBytes(totals.bytesSavedFromHub)} (${totals.peerTransfers} copies between nodes; ${formatBytes(totals.bytesFromHub)} fetched from the Hub)`,
      );

      // As the page loaded them (the FleetStates query): each cell panel names its source; peer cells carry a marker.
      for (const s of held) {
        const target = cell(modelId, names[s.nodeId]!);
        await target.click();
        const wanted = s.source === 'PEER' ? `Bytes from peer ${s.sourceNodeName}` : 'Bytes from the Hub';
        await waitUntil(`the panel of ${names[s.nodeId]} says "${wanted}"`, async () =>
          (await panel.getByRole('heading').textContent())?.includes(` on ${names[s.nodeId]} `) &&
          (await panel.getByTestId('cell-source').textContent()) === wanted
            ? true
            : undefined,
        );
        expect(await target.locator('[data-source="PEER"]').count()).toBe(s.source === 'PEER' ? 1 : 0);
      }

      // As events bring them (modelStatusChanged's states): a new rollout while the page is open, no reload.
      await page.evaluate(() => ((globalThis as unknown as { __noReload: boolean }).__noReload = true));
      const liveId = 'hf/peers/live-GGUF';
      await download(liveId, ['peer-a', 'peer-b']);
      const done = await readyOn(liveId, ['peer-a', 'peer-b']);
      const copied = done.find((s) => s.source === 'PEER')!;
      expect(done.filter((s) => s.source === 'HUB')).toHaveLength(1);
      const liveCell = cell(liveId, names[copied.nodeId]!);
      await waitUntil('the copied cell READY with its peer marker', async () =>
        (await liveCell.getAttribute('data-state')) === 'READY' &&
        (await liveCell.locator('[data-source="PEER"]').count()) === 1
          ? true
          : undefined,
      );
      await liveCell.click();
      await waitUntil('the panel names the peer', async () =>
        (await panel.getByTestId('cell-source').textContent()) === `Bytes from peer ${copied.sourceNodeName}`
          ? true
          : undefined,
      );
      const after = await stats();
      expect(after.bytesSavedFromHub - totals.bytesSavedFromHub).toBe(live.length);
      await waitUntil('the savings figure follows', async () =>
        (await savings.textContent())?.includes(`peer copy: ${formatBytes(after.bytesSavedFromHub)} (`)
          ? true
          : undefined,
      );
      expect(await page.evaluate(() => (globalThis as unknown as { __noReload?: boolean }).__noReload)).toBe(true);
      if (watch.consoleErrors.length) console.log(watch.log.join('\n'));
      expect(watch.consoleErrors).toEqual([]);
      expect(watch.foreignRequests).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 300_000);

  it('refuses an upload without a grant, with an expired one, or with another file’s', async () => {
    const modelId = 'hf/peers/fleet-GGUF';
    const { nodeId, controlTokenHash } = await credentials('peer-a');
    const url = `${await agentUrl('peer-a')}/v1/agent/peer/files/${encodeURIComponent(modelId)}/fleet-Q4_K_M.gguf`;
    const grant: PeerGrant = {
      transferId: '00000000-0000-4000-8000-000000000000',
      sourceNodeId: nodeId,
      receiverNodeId: ids['peer-b']!,
      modelId,
      path: 'fleet-Q4_K_M.gguf',
      sha256: sha256(fleet),
      expiresAt: Date.now() + 60_000,
    };
    const key = peerGrantKey(controlTokenHash);
    const get = (token: string | null, range?: string) =>
      fetch(token === null ? url : `${url}?grant=${token}`, { headers: range ? { range } : {} });

    const valid = await get(signPeerGrant(key, grant), 'bytes=100-199');
    expect(valid.status).toBe(206);
    expect(valid.headers.get('content-range')).toBe(`bytes 100-199/${fleet.length}`);
    expect(Buffer.from(await valid.arrayBuffer()).equals(fleet.subarray(100, 200))).toBe(true);

    const refusals: Array<[string, string | null, RegExp]> = [
      ['no grant', null, /grant .* is required/],
      ['an expired grant', signPeerGrant(key, { ...grant, expiresAt: Date.now() - 1000 }), /expired/],
      [
        'another file’s grant',
        signPeerGrant(key, { ...grant, modelId: 'hf/peers/resume-GGUF', path: 'resume-Q4_K_M.gguf' }),
        /another file/,
      ],
      ['a grant signed for another node', signPeerGrant(peerGrantKey('not-this-node'), grant), /not signed/],
    ];
    for (const [what, token, message] of refusals) {
      const res = await get(token);
      const body = (await res.json()) as { error: { message: string } };
      expect({ what, status: res.status }).toEqual({ what, status: 403 });
      expect(body.error.message).toMatch(message);
    }
  });

  it('resumes from another source with the bytes it had when its peer is killed mid-copy', async () => {
    const modelId = 'hf/peers/resume-GGUF';
    await download(modelId, ['peer-a', 'peer-b']);
    await readyOn(modelId, ['peer-a', 'peer-b']);
    const before = await stats();
    hub.clearRequests();

    await download(modelId, ['peer-c']);
    const midway = await waitUntil('peer-c is copying from a peer, part way', async () => {
      const s = (await states(modelId)).find((x) => x.nodeId === ids['peer-c']);
      return s?.source === 'PEER' && s.bytesDone > 0.1 * resume.length && s.bytesDone < 0.6 * resume.length
        ? s
        : undefined;
    });
    const killed = midway.sourceNodeName!;
    const other = killed === 'peer-a' ? 'peer-b' : 'peer-a';
    await agent(killed).kill();

    const [done] = await readyOn(modelId, ['peer-c']);
    expect(sha256(await readFile(done!.filePath!))).toBe(sha256(resume));
    expect(done!.source).toBe('PEER');
    expect(done!.sourceNodeName).toBe(other);
    // The bytes written before the kill were kept: the two peers together sent one file, the Hub nothing.
    const after = await stats();
    expect(after.bytesFromPeers - before.bytesFromPeers).toBe(resume.length);
    expect(after.bytesFromHub - before.bytesFromHub).toBe(0);
    expect(hub.bytesSent()).toBe(0);

    await agent(killed).restart();
    await waitUntil(`${killed} is back online`, async () => {
      const { node } = await app.data<{ node: { status: string } }>('query($id: ID!) { node(id: $id) { status } }', {
        id: ids[killed],
      });
      return node.status === 'ONLINE';
    });
  });

  it('ends with a correct file when its peer serves flipped bytes, and reports that peer', async () => {
    const modelId = 'hf/peers/flipped-GGUF';
    await download(modelId, ['peer-a']);
    const [a] = await readyOn(modelId, ['peer-a']);
    // The copy on peer-a rots after it was verified: one byte in the middle flips.
    const handle = await open(a!.filePath!, 'r+');
    const at = Math.floor(flipped.length / 2);
    await handle.write(Buffer.from([flipped[at]! ^ 0xff]), 0, 1, at);
    await handle.close();
    const before = await stats();

    await download(modelId, ['peer-b']);
    const [b] = await readyOn(modelId, ['peer-b']);
    expect(sha256(await readFile(b!.filePath!))).toBe(sha256(flipped));
    expect(b!.source).toBe('HUB');
    const after = await stats();
    expect(after.reportedPeers - before.reportedPeers).toBe(1);
    expect(after.bytesFromPeers - before.bytesFromPeers).toBe(flipped.length);
    expect(after.bytesSavedFromHub - before.bytesSavedFromHub).toBe(0);
    const reported = (await states(modelId)).find((s) => s.nodeId === ids['peer-a'])!;
    expect(reported.peerCopyRefusedReason).toMatch(/failed the sha256 check on node peer-b/);

    // Never chosen again: the next node copies from peer-b, which holds the model verified.
    await download(modelId, ['peer-c']);
    const [c] = await readyOn(modelId, ['peer-c']);
    expect(c!.source).toBe('PEER');
    expect(c!.sourceNodeName).toBe('peer-b');
    expect(sha256(await readFile(c!.filePath!))).toBe(sha256(flipped));
  });
});
