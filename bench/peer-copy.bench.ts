import { AppHarness } from '../test/support/app-harness.js';
import { writeCatalog } from '../test/support/factories.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '../test/support/fleet.js';
import { AGENT_JS, startProcess, type RunningProcess } from '../test/support/processes.js';
import type { Benchmark, BenchResult } from './bench.types.js';
import { FileHub } from './lib/file-hub.js';
import { fmt, log } from './lib/stats.js';

/**
 * The model's size in MiB (PEER_COPY_BENCH_MIB, 1 to 4096: the local Hub holds it in memory). 256 by default rather
 * than the 1 GiB: 8 agents write and hash each copy twice per run on a shared 2-core machine; 1024 needs about
 * 10 GiB free in the temp directory.
 */
function sizeMiB(value: string | undefined): number | Error {
  const raw = value?.trim();
  if (!raw) return 256;
  const mib = Number(raw);
  return /^\d+$/.test(raw) && mib >= 1 && mib <= 4096
    ? mib
    : new Error(`PEER_COPY_BENCH_MIB must be a whole number of MiB from 1 to 4096; got "${raw}"`);
}
/** A wrong PEER_COPY_BENCH_MIB fails this benchmark when it runs, not the import of every other one. */
const SIZE_MIB = sizeMiB(process.env.PEER_COPY_BENCH_MIB);
const SIZE = SIZE_MIB instanceof Error ? 0 : SIZE_MIB * 1024 * 1024;
const NODES = 8;
const REPO = 'bench-org/bench-peer-GGUF';
const FILE = 'bench-peer-Q4_K_M.gguf';
const MODEL_ID = `hf/${REPO}`;
const MB = 1_000_000;
/** What a CDN gives one connection (DESIGN.md: 25 MB/s per connection). */
const THROTTLE_BYTES_PER_SECOND = 25 * MB;
/** Eight copies of the model through a 25 MB/s Hub, and then some: longer for a larger model. */
const READY_TIMEOUT_MS = Math.max(600_000, ((NODES * SIZE) / THROTTLE_BYTES_PER_SECOND) * 1000 * 2);

interface BenchAgent {
  process: RunningProcess;
  modelsDir: string;
}

async function startBenchAgent(app: AppHarness, name: string): Promise<BenchAgent> {
  const modelsDir = await mkdtemp(join(tmpdir(), `llmfleet-${name}-`));
  const process = startProcess(AGENT_JS, {
    CONTROL_PLANE_URL: app.url,
    NODE_NAME: name,
    MODELS_DIR: modelsDir,
    AGENT_PORT: '0',
    AGENT_HOST: '127.0.0.1',
    AGENT_GPU: 'false',
    AGENT_VERIFY_LOAD: 'false',
    LOG_LEVEL: 'warn',
    ...(app.config.NODE_JOIN_TOKEN ? { NODE_JOIN_TOKEN: app.config.NODE_JOIN_TOKEN } : {}),
  });
  await process.waitForOutput(/listening on/, 120_000);
  return { process, modelsDir };
}

interface Rollout {
  hubBytes: number;
  seconds: number;
  fromPeers: number;
}

/**
 * A model pushed to 8 real agent processes with the Hub throttled per connection: once with peer copy (the fleet
 * fetches from the Hub once and copies inside), once with PEER_COPY=false (every node from the Hub), same Hub, same run.
 */
async function rollout(hub: FileHub, peerCopy: boolean): Promise<Rollout> {
  const label = peerCopy ? 'peer copy' : 'Hub only';
  const app = await AppHarness.start({
    HF_ENDPOINT: hub.url,
    SUPPORTED_MODELS_PATH: await writeCatalog([]),
    NODE_HEARTBEAT_INTERVAL_MS: '1000',
    PEER_COPY: String(peerCopy),
  });
  const agents: BenchAgent[] = [];
  try {
    const names = Array.from({ length: NODES }, (_, i) => `bench-peer-${i + 1}`);
    for (const name of names) agents.push(await startBenchAgent(app, name));
    await waitUntil(`${NODES} agents joined`, async () => {
      const { nodes } = await app.data<{ nodes: unknown[] }>('{ nodes { id } }');
      return nodes.length === NODES;
    });
    await app.data('mutation($u: String!) { registerHfModel(url: $u) { id } }', { u: REPO });
    await hub.bytesSent(true);
    const t0 = performance.now();
    await app.data('mutation($m: ID!) { downloadModel(modelId: $m) { id } }', { m: MODEL_ID });
    let lastLog = 0;
    // A failed node ends the wait at once (waitUntil retries whatever its probe throws, until its timeout).
    const outcome = await waitUntil(
      `all ${NODES} nodes READY (${label})`,
      async () => {
        const { model } = await app.data<{
          model: { nodes: Array<{ lifecycleStatus: string; source: string | null; errorMessage: string | null }> };
        }>('query($id: ID!) { model(id: $id) { nodes { lifecycleStatus source errorMessage } } }', { id: MODEL_ID });
        const failed = model.nodes.find((n) => n.lifecycleStatus === 'ERROR');
        if (failed) return { failed: failed.errorMessage ?? 'ERROR' };
        const ready = model.nodes.filter((n) => n.lifecycleStatus === 'READY').length;
        if (performance.now() - lastLog > 5000) {
          lastLog = performance.now();
          log(`  ${label}: ${ready}/${NODES} READY after ${fmt((performance.now() - t0) / 1000)} s`);
        }
        return ready === NODES ? { states: model.nodes } : undefined;
      },
      READY_TIMEOUT_MS,
    );
    if ('failed' in outcome) throw new Error(`a node failed (${label}): ${outcome.failed}`);
    const { states } = outcome;
    const seconds = (performance.now() - t0) / 1000;
    const hubBytes = await hub.bytesSent();
    const fromPeers = states.filter((s) => s.source === 'PEER').length;
    log(
      `  ${label}: all ${NODES} READY in ${fmt(seconds)} s; ${fmt(hubBytes / SIZE, 2)} copies from the Hub; ${fromPeers} nodes copied from a peer`,
    );
    return { hubBytes, seconds, fromPeers };
  } finally {
    await Promise.all(
      agents.map(async (a) => {
        await a.process.stop('SIGKILL');
        await rm(a.modelsDir, { recursive: true, force: true });
      }),
    );
    await app.stop();
  }
}

export const peerCopyBench: Benchmark = {
  name: 'peer-copy',
  description: `a ${SIZE_MIB instanceof Error ? '?' : SIZE_MIB} MiB model to ${NODES} agents, Hub throttled to 25 MB/s per connection: peer copy vs every node from the Hub`,
  timeoutMs: 2 * READY_TIMEOUT_MS + 120_000,
  async run(): Promise<BenchResult[]> {
    if (SIZE_MIB instanceof Error) throw SIZE_MIB;
    const hub = await FileHub.start({ repo: REPO, file: FILE, sizeBytes: SIZE, content: 'gguf' });
    try {
      await hub.throttle(THROTTLE_BYTES_PER_SECOND);
      const peers = await rollout(hub, true);
      const direct = await rollout(hub, false);
      return [
        {
          metric: 'peer copy: copies taken from the Hub',
          value: peers.hubBytes / SIZE,
          unit: 'copies',
          goal: '≤ 1.05 (one copy)',
          met: peers.hubBytes <= 1.05 * SIZE,
          note: `${peers.fromPeers} of ${NODES} nodes copied from a peer`,
        },
        { metric: `peer copy: all ${NODES} READY`, value: peers.seconds, unit: 's' },
        { metric: 'Hub only: copies taken from the Hub', value: direct.hubBytes / SIZE, unit: 'copies' },
        { metric: `Hub only: all ${NODES} READY`, value: direct.seconds, unit: 's' },
        { metric: 'peer copy time / Hub-only time', value: peers.seconds / direct.seconds, unit: '×' },
      ];
    } finally {
      await hub.stop();
    }
  },
};
