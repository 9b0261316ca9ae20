import { AppHarness } from '../test/support/app-harness.js';
import type { Benchmark, BenchResult } from './bench.types.js';
import { MODELS_QUERY, startHubWithCatalog, type BenchCatalog, type ModelsQueryData } from './lib/catalog-fixture.js';
import { HttpLoad, type DurationReply } from './lib/http-load.js';
import { fmt, log, summarize } from './lib/stats.js';

const MODELS = 100;
const CONCURRENCY = 16;
const WARMUP_MS = 1500;
const PHASE_MS = 5000;
const TRIVIAL_QUERY = '{ __typename }';

/** What populateFleet put in place, printed with the figures. */
interface Fleet {
  registered: number;
  nodes: number;
}

/**
 * The fleet the `models` query is measured over. This is the one place to grow it: the nodes issue adds 10 nodes here
 * (each with a state for each of the 100 models), so the benchmark measures 100 models × 10 nodes as DESIGN.md asks.
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
  return { registered: catalog.modelIds.length, nodes: 0 };
}

/** Until every model has its Hub stats cached, so the measured queries never wait for the Hub. */
async function warmCaches(app: AppHarness): Promise<ModelsQueryData> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const data = await app.data<ModelsQueryData>(MODELS_QUERY);
    if (data.models.length === MODELS && data.models.every((m) => m.hfStats !== null)) return data;
  }
  throw new Error('Hub stats never all cached for the models query');
}

interface Phase {
  label: 'trivial' | 'models';
  reply: DurationReply;
}

function rate(phases: readonly Phase[], label: Phase['label']): number {
  const mine = phases.filter((p) => p.label === label);
  const requests = mine.reduce((sum, p) => sum + p.reply.requests, 0);
  const seconds = mine.reduce((sum, p) => sum + p.reply.elapsedMs, 0) / 1000;
  return requests / seconds;
}

export const modelsQueryBench: Benchmark = {
  name: 'models-query',
  description: `models query (${MODELS} catalog models + Hub stats, warm caches) vs { __typename }, ${CONCURRENCY} in flight`,
  async run(): Promise<BenchResult[]> {
    const catalog = await startHubWithCatalog(MODELS);
    let app: AppHarness | null = null;
    const load = HttpLoad.start();
    try {
      app = await AppHarness.start({ HF_ENDPOINT: catalog.hub.url, SUPPORTED_MODELS_PATH: catalog.catalogPath });
      const fleet = await populateFleet(app, catalog);
      const sample = await warmCaches(app);
      log(`fleet: ${sample.models.length} models (${fleet.registered} registered), ${fleet.nodes} nodes`);

      const url = `${app.url}/graphql`;
      const bodies = {
        trivial: JSON.stringify({ query: TRIVIAL_QUERY }),
        models: JSON.stringify({ query: MODELS_QUERY }),
      };
      const measure = async (label: Phase['label'], durationMs: number): Promise<Phase> => {
        const reply = await load.duration({ url, body: bodies[label], concurrency: CONCURRENCY, durationMs });
        if (reply.errors > 0) throw new Error(`${label}: ${reply.errors} failed requests, first: ${reply.firstError}`);
        return { label, reply };
      };

      await measure('trivial', WARMUP_MS);
      await measure('models', WARMUP_MS);
      // ABBA order, so drift of a noisy machine weighs on both sides alike.
      const phases: Phase[] = [];
      for (const label of ['trivial', 'models', 'models', 'trivial'] as const) {
        const phase = await measure(label, PHASE_MS);
        const s = summarize(phase.reply.latenciesMs);
        log(
          `${label.padEnd(7)} ${fmt(phase.reply.requests / (phase.reply.elapsedMs / 1000))} req/s  ` +
            `p50 ${fmt(s.p50)} ms  p99 ${fmt(s.p99)} ms  (${phase.reply.requests} requests, ${phase.reply.responseBytes} B each)`,
        );
        phases.push(phase);
      }

      const trivialRate = rate(phases, 'trivial');
      const modelsRate = rate(phases, 'models');
      const ratio = modelsRate / trivialRate;
      const lat = (label: Phase['label']) =>
        summarize(phases.filter((p) => p.label === label).flatMap((p) => p.reply.latenciesMs));
      const trivialLat = lat('trivial');
      const modelsLat = lat('models');
      const bytes = phases.find((p) => p.label === 'models')?.reply.responseBytes ?? 0;
      const shape = `${MODELS} models × ${fleet.nodes} nodes`;
      return [
        { metric: '{ __typename } throughput (baseline)', value: trivialRate, unit: 'req/s' },
        { metric: '{ __typename } latency p50', value: trivialLat.p50, unit: 'ms' },
        { metric: '{ __typename } latency p99', value: trivialLat.p99, unit: 'ms' },
        { metric: 'models throughput', value: modelsRate, unit: 'req/s', note: `${shape}, ${bytes} B per answer` },
        { metric: 'models latency p50', value: modelsLat.p50, unit: 'ms' },
        { metric: 'models latency p99', value: modelsLat.p99, unit: 'ms' },
        {
          metric: 'models / __typename throughput',
          value: ratio,
          unit: '×',
          goal: '≥ 0.5×',
          met: ratio >= 0.5,
          note: `${shape}; ${CONCURRENCY} in flight, keep-alive, client in a worker thread, same 2 cores as the server`,
        },
      ];
    } finally {
      await load.close();
      await app?.stop();
      await catalog.dispose();
    }
  },
};
