import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { MAIN_JS, startProcess, type RunningProcess } from '../test/support/processes.js';
import { testEnv } from '../test/support/test-env.js';
import type { Benchmark, BenchResult } from './bench.types.js';
import { startHubWithCatalog, type BenchCatalog } from './lib/catalog-fixture.js';
import { HttpLoad, type DurationReply } from './lib/http-load.js';
import { SimFleet, type HeartbeatSample } from '../test/support/sim-agents.js';
import { fmt, log, sleep, summarize } from './lib/stats.js';

/** Catalog models registered (FLEET_BENCH_MODELS: fewer for a quick look; the goals are for 1,000). */
const MODELS = Number(process.env.FLEET_BENCH_MODELS ?? 1000);
/** Models each node holds READY from the start (its heartbeat carries their states). */
const HELD_PER_NODE = 10;
/** Held models are drawn from the first ones; the rollouts use the others, so every rollout is a real download. */
const HELD_POOL = Math.floor(MODELS * 0.9);
const CONCURRENCY = 16;
const TRIVIAL_QUERY = '{ __typename }';
const UNIQUE = '__N__';
const SIZE_BYTES = 4096;

function fleetSizes(): number[] {
  const raw = process.env.FLEET_BENCH_NODES ?? '50,200,500';
  const sizes = raw
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0)
    .sort((a, b) => a - b);
  if (sizes.length === 0) throw new Error(`FLEET_BENCH_NODES=${raw}: expected node counts like 50,200,500`);
  return sizes;
}

const DOWNLOAD_MS = Number(process.env.FLEET_BENCH_DOWNLOAD_MS ?? 10_000);

/**
 * FLEET_BENCH_PHASES=rollout: only the joins, one download and the rollout (a quicker look at dispatch).
 * FLEET_BENCH_PHASES=page: only the joins, the page of 100 models and the whole matrix (a quicker look at reads; a
 * replica's CPU profile then shows the page phase, not the heavy reads nor the rollout).
 */
const PHASES = process.env.FLEET_BENCH_PHASES ?? 'all';
if (!['all', 'rollout', 'page'].includes(PHASES)) {
  throw new Error(`FLEET_BENCH_PHASES=${PHASES}: expected all, rollout or page`);
}
const READ_PHASES = PHASES !== 'rollout';
const HEAVY_PHASES = PHASES === 'all';

interface Replica {
  process: RunningProcess;
  url: string;
}

async function startReplica(env: Record<string, string>): Promise<Replica> {
  // FLEET_BENCH_CPU_PROF=<dir>: each replica writes a V8 CPU profile there when it stops (node --cpu-prof).
  const profDir = process.env.FLEET_BENCH_CPU_PROF;
  const proc = startProcess(MAIN_JS, env, profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []);
  await proc.waitForOutput(/listening on http:\/\/[^:]+:\d+/, 120_000);
  const port = /listening on http:\/\/[^:]+:(\d+)/.exec(proc.output())![1];
  return { process: proc, url: `http://127.0.0.1:${port}` };
}

async function gql<T>(url: string, key: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(`${url}/graphql`, {
    signal: AbortSignal.timeout(180_000),
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: unknown[] };
  if (body.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors).slice(0, 500)}`);
  return body.data!;
}

/** Whether `models` / `nodes` take `first` and `after` (the pagination API), read from the schema. */
async function paginationOf(url: string, key: string): Promise<{ models: boolean; nodes: boolean }> {
  const data = await gql<{ __type: { fields: Array<{ name: string; args: Array<{ name: string }> }> } }>(
    url,
    key,
    '{ __type(name: "Query") { fields { name args { name } } } }',
  );
  const has = (field: string) =>
    data.__type.fields.find((f) => f.name === field)?.args.some((a) => a.name === 'first') ?? false;
  return { models: has('models'), nodes: has('nodes') };
}

const STATE_FIELDS = 'nodeId lifecycleStatus progress';

function modelsPageQuery(paginated: boolean, name: string): string {
  const args = paginated ? '(first: 100)' : '';
  return (
    `query ${name} { models${args} { id status downloadProgress availableNodes model { name repo sizeBytes } ` +
    `nodes { ${STATE_FIELDS} } } }`
  );
}

function nodesQuery(name: string): string {
  return `query ${name} { nodes { id name status lastHeartbeatAt metrics { cpuUsage memoryUsage } models { modelId lifecycleStatus progress } } }`;
}

interface MatrixPage {
  models: Array<{ id: string; nodes: Array<{ nodeId: string; lifecycleStatus: string }> }>;
}

let matrixRuns = 0;

/**
 * The whole fleet matrix (every model with every node's state) in one request: `models` without `first` (a page of
 * 1,000 is over the GraphQL cost limit, which counts `first`). A new operation name each time: the response cache
 * misses (the uncached path is what counts).
 */
async function fetchMatrix(url: string, key: string): Promise<{ ms: number; cells: number }> {
  const t0 = performance.now();
  const data = await gql<MatrixPage>(
    url,
    key,
    `query Matrix${++matrixRuns} { models { id nodes { ${STATE_FIELDS} } } }`,
  );
  return { ms: performance.now() - t0, cells: data.models.reduce((sum, m) => sum + m.nodes.length, 0) };
}

/** Counts nodeStatusChanged OFFLINE events per node (all simulated nodes keep heartbeating: each is wrong). */
class OfflineWatch {
  readonly offline: Array<{ nodeId: string; at: number }> = [];
  private readonly client: Client;

  constructor(url: string, key: string) {
    this.client = createClient({
      url: `${url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 5,
      lazy: false,
      connectionParams: { authorization: `Bearer ${key}` },
    });
    this.client.subscribe<{ nodeStatusChanged: { nodeId: string; status: string } }>(
      { query: 'subscription { nodeStatusChanged { nodeId status } }' },
      {
        next: (msg) => {
          const e = msg.data?.nodeStatusChanged;
          if (e?.status === 'OFFLINE') this.offline.push({ nodeId: e.nodeId, at: Date.now() });
        },
        error: (err) => log(`nodeStatusChanged subscription failed: ${String(err)}`),
        complete: () => undefined,
      },
    );
  }

  since(t: number, nodes: Set<string>): number {
    return this.offline.filter((e) => e.at >= t && nodes.has(e.nodeId)).length;
  }

  async close(): Promise<void> {
    await this.client.dispose();
  }
}

function heartbeatStats(samples: readonly HeartbeatSample[], from: number, to: number) {
  const window = samples.filter((s) => s.at >= from && s.at <= to);
  const s = summarize(window.map((w) => w.ms));
  return { ...s, failed: window.filter((w) => !w.ok).length };
}

function rateOf(replies: readonly DurationReply[]): number {
  const requests = replies.reduce((sum, r) => sum + r.requests, 0);
  const seconds = Math.max(...replies.map((r) => r.elapsedMs)) / 1000;
  return requests / seconds;
}

export const fleetBench: Benchmark = {
  name: 'fleet',
  description:
    `two control-plane replicas (processes) on one Postgres and Redis, ${MODELS} catalog models registered, ` +
    `simulated agents speaking the node protocol over HTTP (N = ${fleetSizes().join(' / ')}, FLEET_BENCH_NODES): ` +
    `heartbeats, liveness, downloadModel, rollouts, paged and whole-matrix reads under ${CONCURRENCY} clients`,
  timeoutMs: 20 * 60_000,
  async run(): Promise<BenchResult[]> {
    const sizes = fleetSizes();
    const results: BenchResult[] = [];
    const catalog: BenchCatalog = await startHubWithCatalog(MODELS);
    const joinToken = `bench-join-${randomBytes(12).toString('hex')}`;
    const env = testEnv({ HF_ENDPOINT: catalog.hub.url, SUPPORTED_MODELS_PATH: catalog.catalogPath });
    const key = env.config.ADMIN_API_KEY!;
    const replicaEnv: Record<string, string> = {
      DATABASE_URL: env.config.DATABASE_URL,
      REDIS_URL: env.config.REDIS_URL,
      REDIS_PREFIX: env.config.REDIS_PREFIX,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      EMBEDDED_AGENT: 'false',
      HF_ENDPOINT: catalog.hub.url,
      SUPPORTED_MODELS_PATH: catalog.catalogPath,
      ADMIN_API_KEY: key,
      NODE_JOIN_TOKEN: joinToken,
      NODE_ENV: process.env.NODE_ENV ?? 'production',
    };
    const replicas: Replica[] = [];
    const loads = [HttpLoad.start(), HttpLoad.start()];
    let fleet: SimFleet | null = null;
    let watch: OfflineWatch | null = null;
    try {
      // One after the other: the first runs the migrations.
      replicas.push(await startReplica(replicaEnv));
      replicas.push(await startReplica(replicaEnv));
      const [a, b] = [replicas[0]!, replicas[1]!];
      const urls = replicas.map((r) => r.url);

      // Every catalog model registered, spread over both replicas (each reads the local Hub once).
      const t0 = performance.now();
      const queue = [...catalog.modelIds];
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
            await gql(urls[next++ % 2]!, key, 'mutation ($id: ID!) { registerModel(modelId: $id) { id } }', { id });
          }
        }),
      );
      log(`${MODELS} models registered in ${fmt((performance.now() - t0) / 1000, 1)} s`);
      log(
        `heartbeats: ${process.env.NODE_HEARTBEAT_PORT?.toLowerCase() === 'off' ? 'on the main port (NODE_HEARTBEAT_PORT=off)' : 'on each replica’s heartbeat thread (default)'}`,
      );
      const paging = await paginationOf(a.url, key);
      log(
        `pagination: models ${paging.models ? 'first/after' : 'none (whole list)'}, nodes ${paging.nodes ? 'first/after' : 'none (whole list)'}`,
      );

      fleet = new SimFleet({ replicaUrls: urls, joinToken, downloadMs: DOWNLOAD_MS });
      watch = new OfflineWatch(b.url, key);
      const held = (i: number) =>
        Array.from({ length: HELD_PER_NODE }, (_, k) => catalog.modelIds[(i * HELD_PER_NODE + k) % HELD_POOL]!);
      let rolloutModel = HELD_POOL;

      const runLoad = async (
        bodies: readonly [string, string],
        durationMs: number,
        unique: boolean,
      ): Promise<DurationReply[]> => {
        const replies = await Promise.all(
          loads.map((load, i) =>
            load.duration({
              url: `${urls[i]}/graphql`,
              headers: { authorization: `Bearer ${key}` },
              body: bodies[i]!,
              concurrency: CONCURRENCY / 2,
              durationMs,
              ...(unique ? { uniqueToken: UNIQUE } : {}),
            }),
          ),
        );
        for (const r of replies)
          if (r.errors > 0) log(`  (${r.errors} failed of ${r.requests}; first: ${r.firstError?.slice(0, 200)})`);
        return replies;
      };

      for (const n of sizes) {
        log(`--- N = ${n} nodes`);
        const tJoin = performance.now();
        await fleet.grow(n, held, SIZE_BYTES);
        const nodes = fleet.nodeIds();
        log(`${n} nodes joined (register + first heartbeat) in ${fmt((performance.now() - tJoin) / 1000, 1)} s`);
        const add = (metric: string, value: number, unit: string, extra: Partial<BenchResult> = {}) =>
          results.push({ metric: `N=${n} ${metric}`, value, unit, ...extra });

        let offlineUnderLoad = 0;
        if (HEAVY_PHASES) {
          // Heartbeats alone: two intervals of the fleet's own traffic.
          const aloneFrom = Date.now();
          await sleep(11_000);
          const alone = heartbeatStats(fleet.heartbeats, aloneFrom, Date.now());
          log(
            `heartbeats alone: p50 ${fmt(alone.p50)} ms, p99 ${fmt(alone.p99)} ms (${alone.count}, ${alone.failed} failed)`,
          );
          add('heartbeat p99, no queries', alone.p99, 'ms', { goal: '< 100 ms', met: alone.p99 < 100 });

          // Baseline: { __typename } on both replicas.
          const trivial = JSON.stringify({ query: TRIVIAL_QUERY });
          const baseline = await runLoad([trivial, trivial], 4000, false);
          const baseRate = rateOf(baseline);
          log(`{ __typename }: ${fmt(baseRate)} req/s over both replicas`);
          add('{ __typename } throughput (baseline)', baseRate, 'req/s');

          // Heaviest reads: the whole models matrix (uncached) on one replica, every node with its models on the other.
          const heavyFrom = Date.now();
          const offlineBefore = watch.since(heavyFrom, nodes);
          const heavy = await runLoad(
            [
              JSON.stringify({ query: modelsPageQuery(false, `Matrix${UNIQUE}`) }),
              JSON.stringify({ query: nodesQuery(`Nodes${UNIQUE}`) }),
            ],
            15_000,
            true,
          );
          // Heartbeats still in flight when the load stopped count too.
          await sleep(1000);
          const underLoad = heartbeatStats(fleet.heartbeats, heavyFrom, Date.now());
          offlineUnderLoad = watch.since(heavyFrom, nodes) - offlineBefore;
          const [mx, nd] = [summarize(heavy[0]!.latenciesMs), summarize(heavy[1]!.latenciesMs)];
          log(
            `heavy reads: models matrix ${fmt(heavy[0]!.requests / (heavy[0]!.elapsedMs / 1000))} req/s p99 ${fmt(mx.p99)} ms ` +
              `(${heavy[0]!.responseBytes} B); nodes+models ${fmt(heavy[1]!.requests / (heavy[1]!.elapsedMs / 1000))} req/s ` +
              `p99 ${fmt(nd.p99)} ms (${heavy[1]!.responseBytes} B)`,
          );
          log(
            `heartbeats under load: p50 ${fmt(underLoad.p50)} ms, p99 ${fmt(underLoad.p99)} ms, max ${fmt(underLoad.max)} ms ` +
              `(${underLoad.count}, ${underLoad.failed} failed); OFFLINE events ${offlineUnderLoad}`,
          );
          add(`heartbeat p99 under ${CONCURRENCY} heavy clients`, underLoad.p99, 'ms', {
            goal: '< 100 ms',
            met: underLoad.p99 < 100,
            note: `${underLoad.failed} heartbeats failed; matrix p99 ${fmt(mx.p99)} ms, nodes p99 ${fmt(nd.p99)} ms`,
          });
        }
        if (READ_PHASES) {
          // A page of 100 models with their node states, uncached, 16 clients over both replicas.
          const page = JSON.stringify({ query: modelsPageQuery(paging.models, `Page${UNIQUE}`) });
          const pageCpuFrom = await Promise.all(urls.map((u) => replicaMetrics(u, key)));
          const pageFrom = performance.now();
          const benchCpu = process.cpuUsage();
          const pages = await runLoad([page, page], 8000, true);
          const pageS = (performance.now() - pageFrom) / 1000;
          const benchBusy = process.cpuUsage(benchCpu);
          const pageCpuTo = await Promise.all(urls.map((u) => replicaMetrics(u, key)));
          const pageLat = summarize(pages.flatMap((p) => p.latenciesMs));
          log(
            `page of ${paging.models ? 100 : MODELS} models: ${fmt(rateOf(pages))} req/s, p50 ${fmt(pageLat.p50)} ms, ` +
              `p99 ${fmt(pageLat.p99)} ms (${pages[0]!.responseBytes} B); CPU: replicas ` +
              pageCpuTo
                .map((m, i) => `${fmt(((m.cpuSeconds - pageCpuFrom[i]!.cpuSeconds) / pageS) * 100)}%`)
                .join(' / ') +
              ` of a core, this process (load + simulated agents) ${fmt(((benchBusy.user + benchBusy.system) / 1e6 / pageS) * 100)}%; ` +
              `admission wait mean ` +
              pageCpuTo
                .map(
                  (m, i) =>
                    `${fmt(((m.admissionWaitS - pageCpuFrom[i]!.admissionWaitS) / Math.max(1, m.admitted - pageCpuFrom[i]!.admitted)) * 1000)} ms`,
                )
                .join(' / '),
          );
          add(`page of 100 models with node states p99 (${CONCURRENCY} clients)`, pageLat.p99, 'ms', {
            goal: '< 100 ms',
            met: pageLat.p99 < 100,
            note: paging.models ? 'models(first: 100), uncached' : 'no pagination yet: the whole list, uncached',
          });

          // The whole matrix, alone, a few times (median).
          const matrixRuns: number[] = [];
          let cells = 0;
          for (let i = 0; i < 5; i++) {
            const m = await fetchMatrix(urls[i % 2]!, key);
            matrixRuns.push(m.ms);
            cells = m.cells;
          }
          const matrix = summarize(matrixRuns);
          log(`whole matrix: median ${fmt(matrix.p50)} ms (${MODELS} models, ${cells} node states)`);
          add(`whole matrix (${MODELS} models × ${n} nodes' states) median`, matrix.p50, 'ms', {
            goal: '< 500 ms',
            met: matrix.p50 < 500,
            note: `${cells} node states`,
          });
        }
        if (!HEAVY_PHASES && READ_PHASES) continue;

        // One node's download, alone: the yardstick of a rollout.
        const single = catalog.modelIds[rolloutModel++]!;
        const first = fleet.agents[0]!;
        const tSingle = Date.now();
        await gql(a.url, key, 'mutation ($m: ID!, $n: [ID!]) { downloadModel(modelId: $m, nodeIds: $n) { id } }', {
          m: single,
          n: [first.nodeId],
        });
        const singleMs = (await waitReady(fleet, [single], 1, 120_000)) - tSingle;
        log(`one node's download: ${fmt(singleMs / 1000, 2)} s (transfer simulated as ${DOWNLOAD_MS / 1000} s)`);

        // A rollout: 3 models to every node, each downloadModel timed.
        const rollout = [0, 1, 2].map(() => catalog.modelIds[rolloutModel++]!);
        const rolloutFrom = Date.now();
        // The simulated agents' own process: busy enough to delay their pushes itself?
        const simLoop = monitorEventLoopDelay({ resolution: 20 });
        simLoop.enable();
        const simCpu = process.cpuUsage();
        const replicaFrom = await Promise.all(urls.map((u) => replicaMetrics(u, key)));
        const dupBefore = fleet.duplicateCommands();
        // The three asked at once, on alternate replicas, as a rollout script would; each answer timed.
        const mutationMs = await Promise.all(
          rollout.map(async (modelId, i) => {
            const t = performance.now();
            await gql(urls[i % 2]!, key, 'mutation ($m: ID!) { downloadModel(modelId: $m) { id } }', { m: modelId });
            return performance.now() - t;
          }),
        );
        const rolloutMs = (await waitReady(fleet, rollout, n, 5 * 60_000)) - rolloutFrom;
        const simBusy = process.cpuUsage(simCpu);
        simLoop.disable();
        log(
          `simulated agents' process during the rollout: CPU ${fmt((simBusy.user + simBusy.system) / 1e6, 1)} s over ` +
            `${fmt((Date.now() - rolloutFrom) / 1000, 1)} s, event-loop delay p99 ${fmt(simLoop.percentile(99) / 1e6)} ms, ` +
            `max ${fmt(simLoop.max / 1e6)} ms`,
        );
        const replicaTo = await Promise.all(urls.map((u) => replicaMetrics(u, key)));
        const rolloutS = (Date.now() - rolloutFrom) / 1000;
        log(
          `replicas during the rollout: ` +
            replicaTo
              .map(
                (m, i) =>
                  `#${i} CPU ${fmt(((m.cpuSeconds - replicaFrom[i]!.cpuSeconds) / rolloutS) * 100)}% of a core, ` +
                  `event-loop lag p99 ${fmt(m.lagP99Ms)} ms, max ${fmt(m.lagMaxMs)} ms`,
              )
              .join('; '),
        );
        await sleep(1000);
        const during = heartbeatStats(fleet.heartbeats, rolloutFrom, Date.now());
        const offlineDuring = watch.since(rolloutFrom, nodes);
        const dup = fleet.duplicateCommands() - dupBefore;
        const verdict = await gql<{ models: Array<{ id: string; nodes: Array<{ lifecycleStatus: string }> }> }>(
          a.url,
          key,
          `{ models(status: READY) { id nodes { lifecycleStatus } } }`,
        );
        const readyStates = verdict.models
          .filter((m) => rollout.includes(m.id))
          .reduce((sum, m) => sum + m.nodes.filter((s) => s.lifecycleStatus === 'READY').length, 0);
        const mutMax = Math.max(...mutationMs);
        log(
          `downloadModel to every node: ${mutationMs.map((ms) => fmt(ms)).join(' / ')} ms; rollout of 3 models to ` +
            `${n} nodes: ${fmt(rolloutMs / 1000, 2)} s (${fmt(rolloutMs / singleMs, 2)}× one download); ` +
            `${readyStates} of ${3 * n} READY; ${dup} duplicate dispatches`,
        );
        // Where a rollout's time goes: dispatch (request → the agent's command) and report (transfer end → READY taken).
        const rolled = fleet.records.filter((r) => rollout.includes(r.modelId) && r.readyAckedAt !== null);
        const toCommand = summarize(rolled.map((r) => r.commandAt - rolloutFrom));
        const toAck = summarize(rolled.map((r) => r.readyAckedAt! - r.commandAt - DOWNLOAD_MS));
        log(
          `rollout parts: agent commanded after p50 ${fmt(toCommand.p50)} ms, max ${fmt(toCommand.max)} ms; ` +
            `READY taken after the transfer p50 ${fmt(toAck.p50)} ms, p99 ${fmt(toAck.p99)} ms, max ${fmt(toAck.max)} ms`,
        );
        log(
          `heartbeats during the rollout: p99 ${fmt(during.p99)} ms (${during.count}, ${during.failed} failed); ` +
            `OFFLINE events ${offlineDuring}; state pushes p99 ${fmt(summarize(fleet.pushes).p99)} ms, ${fleet.pushErrors.length} failed`,
        );
        add('downloadModel to every node (slowest of 3 at once)', mutMax, 'ms', { goal: '< 1 s', met: mutMax < 1000 });
        const ratio = rolloutMs / singleMs;
        add('rollout of 3 models to every node / one download', ratio, '×', {
          goal: '≤ 1.2×',
          met: ratio <= 1.2,
          note: `${fmt(rolloutMs / 1000, 2)} s vs ${fmt(singleMs / 1000, 2)} s; ${readyStates}/${3 * n} READY, ${dup} duplicate dispatches`,
        });
        add('heartbeat p99 during the rollout', during.p99, 'ms', { goal: '< 100 ms', met: during.p99 < 100 });
        const wrong = offlineUnderLoad + offlineDuring;
        add('nodes wrongly marked OFFLINE', wrong, 'events', {
          goal: '0',
          met: wrong === 0,
          note: `${offlineUnderLoad} under the heavy reads, ${offlineDuring} during the rollout; every node kept heartbeating`,
        });
        fleet.pushes.length = 0;
      }
      const total = fleet.heartbeats.length;
      const failed = fleet.heartbeats.filter((h) => !h.ok).length;
      log(
        `${total} heartbeats in all, ${failed} failed${fleet.heartbeatErrors[0] ? ` (first: ${fleet.heartbeatErrors[0].slice(0, 200)})` : ''}`,
      );
      return results;
    } catch (err) {
      for (const [i, r] of replicas.entries()) log(`replica ${i} output (tail):\n${r.process.output().slice(-3000)}`);
      throw err;
    } finally {
      await watch?.close();
      await fleet?.stop();
      await Promise.all(loads.map((l) => l.close()));
      for (const r of replicas) await r.process.stop('SIGTERM');
      // FLEET_BENCH_REPLICA_LOG_DIR: each replica's output, for a look at what it logged (LOG_LEVEL=warn).
      const logDir = process.env.FLEET_BENCH_REPLICA_LOG_DIR;
      if (logDir) {
        await mkdir(logDir, { recursive: true });
        for (const [i, r] of replicas.entries()) await writeFile(`${logDir}/replica-${i}.log`, r.process.output());
      }
      await env.cleanup();
      await catalog.dispose();
    }
  },
};

/**
 * A replica's own figures from /metrics: CPU seconds so far, and event-loop lag since the previous scrape (prom-client
 * resets its lag histogram at each scrape).
 */
async function replicaMetrics(url: string, key: string) {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${key}` } });
  const text = await res.text();
  const value = (name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)`, 'm').exec(text)?.[1] ?? NaN);
  const labelled = (name: string) =>
    Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)`, 'm').exec(text)?.[1] ?? NaN);
  return {
    admissionWaitS: labelled('llmfleet_graphql_admission_wait_seconds_sum'),
    admitted: labelled('llmfleet_graphql_admission_wait_seconds_count'),
    cpuSeconds: value('process_cpu_seconds_total'),
    lagP99Ms: value('nodejs_eventloop_lag_p99_seconds') * 1000,
    lagMaxMs: value('nodejs_eventloop_lag_max_seconds') * 1000,
  };
}

/** Until every one of these models' downloads reached READY (acknowledged) on `perModel` nodes; the time it did. */
async function waitReady(fleet: SimFleet, models: readonly string[], perModel: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let nextLog = Date.now() + 15_000;
  for (;;) {
    const done = fleet.records.filter((r) => models.includes(r.modelId) && r.readyAckedAt !== null);
    if (done.length >= perModel * models.length) return Math.max(...done.map((r) => r.readyAckedAt!));
    if (Date.now() >= nextLog) {
      nextLog += 15_000;
      log(
        `  … ${done.length} of ${perModel * models.length} READY; ${fleet.pushErrors.length} state pushes failed` +
          (fleet.pushErrors.length ? ` (last: ${fleet.pushErrors.at(-1)!.slice(0, 200)})` : ''),
      );
    }
    if (Date.now() > deadline) {
      throw new Error(
        `rollout of ${models.join(', ')} did not finish within ${timeoutMs / 1000} s: ${done.length} of ${perModel * models.length} READY`,
      );
    }
    await sleep(100);
  }
}
