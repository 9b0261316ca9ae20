import { AppHarness } from '../test/support/app-harness.js';
import type { GqlResponse } from '../test/support/app-harness.js';
import type { Benchmark, BenchResult } from './bench.types.js';
import { MODELS_QUERY, startHubWithCatalog, type ModelsQueryData } from './lib/catalog-fixture.js';
import { HttpLoad, type BurstReply } from './lib/http-load.js';
import { fmt, log, sleep, summarize } from './lib/stats.js';

const REPOS = 100;
const BURST = 200;
const HUB_DELAY_MS = 50;
/** After the burst, fetches that outlived HF_STATS_WAIT_MS still reach the Hub: wait this long to count them too. */
const SETTLE_MS = 2000;

interface BurstCheck {
  answered: number;
  failed: number;
  /** Models answered with hfStats null (the stats did not arrive within HF_STATS_WAIT_MS). */
  withoutStats: number;
}

function check(reply: BurstReply): BurstCheck {
  let failed = reply.transportErrors.length;
  let withoutStats = 0;
  reply.bodies.forEach((body, i) => {
    const res = JSON.parse(body) as GqlResponse<ModelsQueryData>;
    if (reply.statuses[i] !== 200 || res.errors?.length || res.data?.models.length !== REPOS) {
      failed += 1;
      return;
    }
    withoutStats += res.data.models.filter((m) => m.hfStats === null).length;
  });
  return { answered: reply.bodies.length, failed, withoutStats };
}

export const hubColdBurstBench: Benchmark = {
  name: 'hub-cold-burst',
  description: `${BURST} concurrent models queries on a cold Hub-stats cache (${REPOS} distinct repos, Hub answers in ${HUB_DELAY_MS} ms)`,
  async run(): Promise<BenchResult[]> {
    const catalog = await startHubWithCatalog(REPOS);
    const hub = catalog.hub;
    hub.delay({ route: 'api', ms: HUB_DELAY_MS });
    let app: AppHarness | null = null;
    const load = HttpLoad.start();
    try {
      app = await AppHarness.start({ HF_ENDPOINT: hub.url, SUPPORTED_MODELS_PATH: catalog.catalogPath });
      const url = `${app.url}/graphql`;
      const body = JSON.stringify({ query: MODELS_QUERY });
      // Warms the server's code paths (GraphQL, the database) without touching the stats cache.
      await load.duration({
        url,
        body: JSON.stringify({ query: '{ supportedModels { id } }' }),
        concurrency: 4,
        durationMs: 500,
      });
      const before = hub.count('api');
      const apiSince = (index: number) => hub.requests.slice(index).filter((r) => r.route === 'api');
      const start = hub.requests.length;

      const cold = await load.burst({ url, body, count: BURST });
      const duringBurst = apiSince(start).length;
      await sleep(SETTLE_MS);
      const apiRequests = apiSince(start);
      const total = apiRequests.length;
      const settled = hub.requests.length;
      const perRepo = new Map<string, number>();
      for (const r of apiRequests) perRepo.set(r.repo ?? '(none)', (perRepo.get(r.repo ?? '(none)') ?? 0) + 1);
      const maxPerRepo = Math.max(0, ...perRepo.values());
      const missing = catalog.repos.filter((r) => !perRepo.has(r)).length;

      const warm = await load.burst({ url, body, count: BURST });
      const afterWarm = apiSince(settled).length;

      const coldCheck = check(cold);
      const warmCheck = check(warm);
      const coldLat = summarize(cold.latenciesMs);
      const warmLat = summarize(warm.latenciesMs);
      log(
        `cold: ${coldCheck.answered} answered, ${coldCheck.failed} failed, wall ${fmt(cold.elapsedMs)} ms, ` +
          `p50 ${fmt(coldLat.p50)} / p95 ${fmt(coldLat.p95)} / max ${fmt(coldLat.max)} ms, ` +
          `${coldCheck.withoutStats} of ${BURST * REPOS} models without stats`,
      );
      log(
        `Hub API calls: ${before} before, ${duringBurst} during the burst, ${total} once settled ` +
          `(${perRepo.size} repos asked, at most ${maxPerRepo} per repo, ${missing} never asked)`,
      );
      log(
        `warm: ${warmCheck.answered} answered, ${warmCheck.failed} failed, wall ${fmt(warm.elapsedMs)} ms, ` +
          `p95 ${fmt(warmLat.p95)} ms, ${afterWarm} Hub calls`,
      );
      if (coldCheck.failed > 0 || warmCheck.failed > 0) {
        throw new Error(
          `${coldCheck.failed + warmCheck.failed} burst queries failed: ${cold.transportErrors[0] ?? ''}`,
        );
      }

      return [
        {
          metric: 'Hub API calls for the cold burst',
          value: total,
          unit: 'calls',
          goal: `= ${REPOS} (1 per repo)`,
          met: total === REPOS && maxPerRepo === 1,
          note: `${duringBurst} while the burst ran; at most ${maxPerRepo} for one repo`,
        },
        { metric: 'cold burst wall time', value: cold.elapsedMs, unit: 'ms', note: `${BURST} queries at once` },
        { metric: 'cold burst latency p50', value: coldLat.p50, unit: 'ms' },
        {
          metric: 'cold burst latency p95',
          value: coldLat.p95,
          unit: 'ms',
          goal: '< 3000 ms (seed 002: HF list P95 3 s)',
          met: coldLat.p95 < 3000,
        },
        {
          metric: 'models answered without Hub stats',
          value: coldCheck.withoutStats,
          unit: `of ${BURST * REPOS}`,
          note: 'null hfStats: the Hub did not answer within HF_STATS_WAIT_MS (1 s)',
        },
        {
          metric: 'warm burst wall time (baseline)',
          value: warm.elapsedMs,
          unit: 'ms',
          note: 'same burst, cache warm',
        },
        {
          metric: 'cold / warm burst wall time',
          value: cold.elapsedMs / warm.elapsedMs,
          unit: '×',
          note: `warm p95 ${fmt(warmLat.p95)} ms`,
        },
      ];
    } finally {
      await load.close();
      await app?.stop();
      await catalog.dispose();
    }
  },
};
