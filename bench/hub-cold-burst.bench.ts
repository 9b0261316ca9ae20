import { AppHarness, type GqlResponse } from '../test/support/app-harness.js';
import type { Benchmark, BenchResult } from './bench.types.js';
import { MODELS_QUERY, type ModelsQueryData } from './lib/catalog-fixture.js';
import { HttpLoad, type BurstReply } from './lib/http-load.js';
import { HubThread } from './lib/hub-thread.js';
import { fmt, log, sleep, summarize } from './lib/stats.js';

const REPOS = 100;
const BURST = 200;
const HUB_DELAY_MS = 50;
/** After the burst, fetches that outlived HF_STATS_WAIT_MS still reach the Hub: wait this long to count them too. */
const SETTLE_MS = 2000;

interface BurstCheck {
  answered: number;
  failed: number;
  firstFailure: string | null;
  /** Models answered with hfStats null (their stats did not arrive within HF_STATS_WAIT_MS). */
  withoutStats: number;
}

function check(reply: BurstReply): BurstCheck {
  let failed = reply.transportErrors.length;
  let firstFailure = reply.transportErrors[0] ?? null;
  let withoutStats = 0;
  reply.bodies.forEach((body, i) => {
    const res = JSON.parse(body) as GqlResponse<ModelsQueryData>;
    if (reply.statuses[i] !== 200 || res.errors?.length || res.data?.models.length !== REPOS) {
      failed += 1;
      firstFailure ??= `${reply.statuses[i]} ${body.slice(0, 300)}`;
      return;
    }
    withoutStats += res.data.models.filter((m) => m.hfStats === null).length;
  });
  return { answered: reply.bodies.length, failed, firstFailure, withoutStats };
}

function countBy(values: ReadonlyArray<string | null>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v ?? '(no repo)', (counts.get(v ?? '(no repo)') ?? 0) + 1);
  return counts;
}

export const hubColdBurstBench: Benchmark = {
  name: 'hub-cold-burst',
  description: `${BURST} concurrent models queries, cold Hub-stats cache, ${REPOS} distinct repos, Hub answers in ${HUB_DELAY_MS} ms`,
  async run(): Promise<BenchResult[]> {
    const hub = await HubThread.start({ repos: REPOS, apiDelayMs: HUB_DELAY_MS });
    let app: AppHarness | null = null;
    const load = HttpLoad.start();
    try {
      app = await AppHarness.start({ HF_ENDPOINT: hub.url, SUPPORTED_MODELS_PATH: hub.catalogPath });
      const url = `${app.url}/graphql`;
      const body = JSON.stringify({ query: MODELS_QUERY });
      const start = await hub.mark();
      // Warms the server's code paths (HTTP, GraphQL, the database) without touching the stats cache.
      const warmup = JSON.stringify({ query: '{ supportedModels { id } }' });
      await load.duration({ url, body: warmup, concurrency: 4, durationMs: 500, headers: app.authHeaders() });
      const before = (await hub.apiCalls(start)).length;

      const cold = await load.burst({ url, body, count: BURST, headers: app.authHeaders() });
      const duringBurst = (await hub.apiCalls(start)).length - before;
      await sleep(SETTLE_MS);
      const calls = (await hub.apiCalls(start)).slice(before);
      const perRepo = countBy(calls);
      const maxPerRepo = Math.max(0, ...perRepo.values());
      const neverAsked = hub.repos.filter((r) => !perRepo.has(r)).length;

      const settled = await hub.mark();
      const warm = await load.burst({ url, body, count: BURST, headers: app.authHeaders() });
      const warmCalls = (await hub.apiCalls(settled)).length;

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
        `Hub API calls: ${before} before, ${duringBurst} during the burst, ${calls.length} once settled ` +
          `(${perRepo.size} repos asked, at most ${maxPerRepo} per repo, ${neverAsked} never asked)`,
      );
      log(
        `warm: ${warmCheck.answered} answered, ${warmCheck.failed} failed, wall ${fmt(warm.elapsedMs)} ms, ` +
          `p50 ${fmt(warmLat.p50)} / p95 ${fmt(warmLat.p95)} ms, ${warmCalls} Hub calls`,
      );
      const failed = coldCheck.failed + warmCheck.failed;
      if (failed > 0) {
        throw new Error(`${failed} burst queries failed: ${coldCheck.firstFailure ?? warmCheck.firstFailure}`);
      }

      return [
        {
          metric: 'Hub API calls for the cold burst',
          value: calls.length,
          unit: 'calls',
          goal: `= ${REPOS} (1 per repo)`,
          met: calls.length === REPOS && maxPerRepo === 1 && neverAsked === 0,
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
          note: 'hfStats null: not fetched within HF_STATS_WAIT_MS of the resolver starting',
        },
        {
          metric: 'warm burst wall time (baseline)',
          value: warm.elapsedMs,
          unit: 'ms',
          note: `same burst right after, cache warm; p95 ${fmt(warmLat.p95)} ms`,
        },
        { metric: 'cold / warm burst wall time', value: cold.elapsedMs / warm.elapsedMs, unit: '×' },
      ];
    } finally {
      await load.close();
      await app?.stop();
      await hub.stop();
    }
  },
};
