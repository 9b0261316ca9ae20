import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector';
import type {
  AgentModelState,
  HeartbeatRequest,
  RegisterNodeRequest,
  RegisterNodeResponse,
} from '../src/shared/agent-protocol.js';
import { AppHarness } from '../test/support/app-harness.js';
import type { Benchmark, BenchResult } from './bench.types.js';
import { modelsQuery, startHubWithCatalog, type BenchCatalog, type ModelsQueryData } from './lib/catalog-fixture.js';
import { HttpLoad, type DurationReply } from './lib/http-load.js';
import { fmt, log, summarize } from './lib/stats.js';

const MODELS = 100;
const NODES = 10;
const CONCURRENCY = 16;
const WARMUP_MS = 1500;
const PHASE_MS = 5000;
const TRIVIAL_QUERY = '{ __typename }';
/** Replaced by the load worker with a number of each request's own: a new operation name, so a cache miss each time. */
const UNIQUE = '__N__';
/** What a bench node says it holds (a 7B Q4_K_M is about this size; above 2^31, as SafeInt must carry). */
const BYTES_TOTAL = 4_683_073_536;
const GiB = 1024 * 1024 * 1024;

interface Reported {
  nodeId: string;
  state: AgentModelState;
}

/** What populateFleet put in place, printed with the figures, and what the `models` query must answer over it. */
interface Fleet {
  registered: number;
  nodes: number;
  /** Per model id: the state each node reported. */
  states: Map<string, Reported[]>;
}

/**
 * The state node `node` reports for model `model`: even models are READY on 2 or 3 nodes and downloading on the
 * others (status READY, progress over the downloading ones); odd models are downloading everywhere (DOWNLOADING).
 */
function plannedState(modelId: string, model: number, node: number): AgentModelState {
  const ready = model % 2 === 0 && (model / 2 + node) % 4 === 0;
  const bytesDone = ready ? BYTES_TOTAL : Math.floor((BYTES_TOTAL * ((model * 7 + node * 13) % 100)) / 100);
  return {
    modelId,
    lifecycleStatus: ready ? 'READY' : 'DOWNLOADING',
    bytesDone,
    bytesTotal: BYTES_TOTAL,
    filePath: null,
    errorCode: null,
    errorMessage: null,
    version: Date.now() * 1000 + model,
  };
}

async function call<T>(
  url: string,
  method: 'POST' | 'PUT',
  body: unknown,
  token?: string,
  headers: Record<string, string> = {},
): Promise<T> {
  const res = await fetch(url, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/**
 * The fleet the `models` query is measured over: the 100 catalog models registered, and 10 nodes that joined through
 * the real node protocol (register, then one heartbeat carrying a state for each of the 100 models).
 */
async function populateFleet(app: AppHarness, catalog: BenchCatalog): Promise<Fleet> {
  // Nodes hold registered models only, so every catalog model is registered (a few at a time: each reads the Hub).
  const queue = [...catalog.modelIds];
  const worker = async (): Promise<void> => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      await app.data('mutation ($id: ID!) { registerModel(modelId: $id) { id } }', { id });
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));

  const states = new Map<string, Reported[]>(catalog.modelIds.map((id) => [id, []]));
  const joinOne = async (node: number): Promise<Reported[]> => {
    const register: RegisterNodeRequest = {
      name: `bench-node-${String(node + 1).padStart(2, '0')}`,
      url: 'http://127.0.0.1:9',
      protocolVersion: 1,
      capacity: {
        gpus: [],
        vramTotalBytes: 0,
        ramTotalBytes: 64 * GiB,
        cpuCount: 8,
        platform: 'linux',
        memoryBytes: 64 * GiB,
      },
    };
    // Joining always takes the join token (the harness sets NODE_JOIN_TOKEN).
    const joinToken = app.config.NODE_JOIN_TOKEN;
    const { nodeId, nodeToken } = await call<RegisterNodeResponse>(
      `${app.url}/api/nodes/register`,
      'POST',
      register,
      undefined,
      joinToken ? { 'x-llmfleet-join-token': joinToken } : {},
    );
    const models = catalog.modelIds.map((id, model) => plannedState(id, model, node));
    const heartbeat: HeartbeatRequest = {
      metrics: {
        gpuUsage: null,
        vramUsedBytes: 0,
        vramTotalBytes: 0,
        cpuUsage: 5,
        ramUsedBytes: 1,
        ramTotalBytes: 64 * GiB,
        requestCount: 0,
      },
      models,
    };
    await call(`${app.url}/api/nodes/${nodeId}/heartbeat`, 'PUT', heartbeat, nodeToken);
    return models.map((state) => ({ nodeId, state }));
  };
  // Every node joins at once, as a fleet coming up does; each heartbeat applies its 100 states in turn.
  const reported = await Promise.all(Array.from({ length: NODES }, (_, node) => joinOne(node)));
  for (const node of reported) for (const r of node) states.get(r.state.modelId)?.push(r);
  return { registered: catalog.modelIds.length, nodes: NODES, states };
}

/** The first answer over the fleet must be the fleet: every model, each with every node's state, statuses derived. */
function checkAnswer(data: ModelsQueryData, fleet: Fleet): string {
  const problems: string[] = [];
  const statuses = new Map<string, number>();
  let nodeStates = 0;
  for (const m of data.models) {
    statuses.set(m.status, (statuses.get(m.status) ?? 0) + 1);
    nodeStates += m.nodes.length;
    const reported = fleet.states.get(m.id) ?? [];
    const sent = reported.map((r) => r.state);
    const ready = sent.filter((s) => s.lifecycleStatus === 'READY').length;
    const inFlight = sent.filter((s) => s.lifecycleStatus !== 'READY');
    const progress = inFlight.length
      ? inFlight.reduce((sum, s) => sum + s.bytesDone, 0) / inFlight.reduce((sum, s) => sum + s.bytesTotal, 0)
      : null;
    const expected = ready > 0 ? 'READY' : 'DOWNLOADING';
    const wrongNodes = reported.filter(({ nodeId, state: s }) => {
      const got = m.nodes.find((n) => n.nodeId === nodeId);
      return (
        !got || got.lifecycleStatus !== s.lifecycleStatus || Math.abs(got.progress - s.bytesDone / s.bytesTotal) > 1e-9
      );
    });
    if (m.nodes.length !== fleet.nodes || wrongNodes.length > 0)
      problems.push(`${m.id}: ${m.nodes.length} nodes, ${wrongNodes.length} not as reported`);
    else if (m.status !== expected || m.availableNodes !== ready)
      problems.push(`${m.id}: ${m.status} on ${m.availableNodes} nodes, expected ${expected} on ${ready}`);
    else if (progress === null ? m.downloadProgress !== null : Math.abs((m.downloadProgress ?? -1) - progress) > 1e-9)
      problems.push(`${m.id}: downloadProgress ${m.downloadProgress}, expected ${progress}`);
  }
  if (data.models.length !== MODELS) problems.unshift(`${data.models.length} models, expected ${MODELS}`);
  if (problems.length > 0) throw new Error(`the models query answered wrong: ${problems.slice(0, 5).join('; ')}`);
  const byStatus = [...statuses].map(([status, n]) => `${n} ${status}`).join(', ');
  return `${data.models.length} models, each with ${fleet.nodes} node states (${nodeStates} in all) as reported; ${byStatus}; availableNodes and downloadProgress as derived`;
}

/** Until every model has its Hub stats cached, so the measured queries never wait for the Hub. */
async function warmCaches(app: AppHarness): Promise<ModelsQueryData> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const data = await app.data<ModelsQueryData>(modelsQuery());
    if (data.models.length === MODELS && data.models.every((m) => m.hfStats !== null)) return data;
  }
  throw new Error('Hub stats never all cached for the models query');
}

type Label = 'trivial' | 'models' | 'uncached';

const CPU_REQUESTS = 40;

/**
 * Process CPU time per request over sequential requests (each a new operation name where `query` holds UNIQUE): what a
 * request costs, whatever else the machine is running.
 */
async function cpuPerRequest(url: string, headers: Record<string, string>, query: string): Promise<number> {
  const send = async (n: number) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query: query.replace(UNIQUE, `cpu${n}_${Date.now()}`) }),
    });
    if (!res.ok) throw new Error(`cpu probe: ${res.status}`);
    await res.text();
  };
  for (let i = 0; i < 5; i++) await send(i);
  const before = process.cpuUsage();
  for (let i = 0; i < CPU_REQUESTS; i++) await send(i);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / CPU_REQUESTS;
}

/**
 * With MODELS_QUERY_CPU_PROFILE=<file>, a CPU profile of this process (the server; the load client runs in a worker)
 * over `run` is written there as a .cpuprofile (Chrome DevTools, speedscope): where an uncached request's time goes.
 */
async function profiled<T>(run: () => Promise<T>): Promise<T> {
  const file = process.env.MODELS_QUERY_CPU_PROFILE;
  if (!file) return run();
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))),
    );
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 100 });
  await post('Profiler.start');
  try {
    return await run();
  } finally {
    const { profile } = (await post('Profiler.stop')) as { profile: unknown };
    await writeFile(file, JSON.stringify(profile));
    session.disconnect();
    log(`cpu profile of the uncached requests: ${file}`);
  }
}

interface Phase {
  label: Label;
  reply: DurationReply;
}

function rate(phases: readonly Phase[], label: Label): number {
  const mine = phases.filter((p) => p.label === label);
  const requests = mine.reduce((sum, p) => sum + p.reply.requests, 0);
  const seconds = mine.reduce((sum, p) => sum + p.reply.elapsedMs, 0) / 1000;
  return requests / seconds;
}

export const modelsQueryBench: Benchmark = {
  name: 'models-query',
  description:
    `models query (${MODELS} catalog models × ${NODES} nodes, Hub stats, warm caches), cached and uncached, vs ` +
    `{ __typename }, ${CONCURRENCY} in flight`,
  async run(): Promise<BenchResult[]> {
    const catalog = await startHubWithCatalog(MODELS);
    let app: AppHarness | null = null;
    const load = HttpLoad.start();
    try {
      // Nodes stay ONLINE for the whole run without further heartbeats (no liveness sweep flips them mid-measure).
      app = await AppHarness.start({
        HF_ENDPOINT: catalog.hub.url,
        SUPPORTED_MODELS_PATH: catalog.catalogPath,
        NODE_OFFLINE_AFTER_MS: '3600000',
      });
      const joinStart = performance.now();
      const fleet = await populateFleet(app, catalog);
      const joinMs = performance.now() - joinStart;
      const sample = await warmCaches(app);
      log(
        `fleet: ${sample.models.length} models (${fleet.registered} registered), ${fleet.nodes} nodes, set up in ` +
          `${fmt(joinMs / 1000, 2)} s through the node protocol`,
      );
      log(`first answer: ${checkAnswer(sample, fleet)}`);

      const url = `${app.url}/graphql`;
      const bodies: Record<Label, string> = {
        trivial: JSON.stringify({ query: TRIVIAL_QUERY }),
        models: JSON.stringify({ query: modelsQuery() }),
        uncached: JSON.stringify({ query: modelsQuery(`Q${UNIQUE}`) }),
      };
      const measure = async (label: Label, durationMs: number): Promise<Phase> => {
        const reply = await load.duration({
          url,
          headers: app!.authHeaders(),
          body: bodies[label],
          concurrency: CONCURRENCY,
          durationMs,
          ...(label === 'uncached' ? { uniqueToken: UNIQUE } : {}),
        });
        if (reply.errors > 0) throw new Error(`${label}: ${reply.errors} failed requests, first: ${reply.firstError}`);
        return { label, reply };
      };

      await measure('trivial', WARMUP_MS);
      await measure('models', WARMUP_MS);
      await measure('uncached', WARMUP_MS);
      // Mirrored order, so drift of a noisy machine weighs on every side alike.
      const phases: Phase[] = [];
      for (const label of ['trivial', 'models', 'uncached', 'uncached', 'models', 'trivial'] as const) {
        const phase = await measure(label, PHASE_MS);
        const s = summarize(phase.reply.latenciesMs);
        log(
          `${label.padEnd(8)} ${fmt(phase.reply.requests / (phase.reply.elapsedMs / 1000))} req/s  ` +
            `p50 ${fmt(s.p50)} ms  p99 ${fmt(s.p99)} ms  (${phase.reply.requests} requests, ${phase.reply.responseBytes} B each)`,
        );
        phases.push(phase);
      }

      const trivialCpu = await cpuPerRequest(url, app.authHeaders(), TRIVIAL_QUERY);
      const uncachedCpu = await profiled(() => cpuPerRequest(url, app!.authHeaders(), modelsQuery(`Q${UNIQUE}`)));
      log(`cpu per request (sequential): trivial ${fmt(trivialCpu, 2)} ms, uncached models ${fmt(uncachedCpu, 2)} ms`);

      const trivialRate = rate(phases, 'trivial');
      const modelsRate = rate(phases, 'models');
      const uncachedRate = rate(phases, 'uncached');
      const ratio = modelsRate / trivialRate;
      const lat = (label: Label) =>
        summarize(phases.filter((p) => p.label === label).flatMap((p) => p.reply.latenciesMs));
      const trivialLat = lat('trivial');
      const modelsLat = lat('models');
      const uncachedLat = lat('uncached');
      const bytes = phases.find((p) => p.label === 'models')?.reply.responseBytes ?? 0;
      const shape = `${MODELS} models × ${fleet.nodes} nodes`;
      return [
        { metric: '{ __typename } throughput (baseline)', value: trivialRate, unit: 'req/s' },
        { metric: '{ __typename } latency p50', value: trivialLat.p50, unit: 'ms' },
        { metric: '{ __typename } latency p99', value: trivialLat.p99, unit: 'ms' },
        {
          metric: 'models throughput (cached answer)',
          value: modelsRate,
          unit: 'req/s',
          note: `${shape}, ${bytes} B per answer`,
        },
        { metric: 'models latency p50 (cached)', value: modelsLat.p50, unit: 'ms' },
        { metric: 'models latency p99 (cached)', value: modelsLat.p99, unit: 'ms' },
        {
          metric: 'models / __typename throughput',
          value: ratio,
          unit: '×',
          goal: '≥ 0.5×',
          met: ratio >= 0.5,
          note: `${shape}; ${CONCURRENCY} in flight, keep-alive, client in a worker thread, same 2 cores as the server`,
        },
        {
          metric: 'models throughput, uncached',
          value: uncachedRate,
          unit: 'req/s',
          note:
            `a new operation name per request, so a response-cache miss (and a parse + validate) each time: what a ` +
            `dashboard's first load costs, and every load after a model status event drops the cache`,
        },
        { metric: 'models latency p50 (uncached)', value: uncachedLat.p50, unit: 'ms' },
        { metric: 'models latency p99 (uncached)', value: uncachedLat.p99, unit: 'ms' },
        {
          metric: 'models CPU per uncached request',
          value: uncachedCpu,
          unit: 'ms',
          note:
            `process CPU (server and client) per request, ${CPU_REQUESTS} sequential requests: steadier than req/s on a ` +
            `shared machine; { __typename } costs ${fmt(trivialCpu, 2)} ms`,
        },
        {
          metric: 'models uncached / __typename throughput',
          value: uncachedRate / trivialRate,
          unit: '×',
          note: `no goal; cached / uncached ${fmt(modelsRate / uncachedRate)}×`,
        },
      ];
    } finally {
      await load.close();
      await app?.stop();
      await catalog.dispose();
    }
  },
};
