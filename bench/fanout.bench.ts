import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { EventsService } from '../src/events/events.service.js';
import { Topic } from '../src/events/topics.js';
import { AppHarness } from '../test/support/app-harness.js';
import { catalogEntry, writeCatalog } from '../test/support/factories.js';
import type { Benchmark, BenchResult } from './bench.types.js';
import { fmt, log, nowMs, sleep, summarize, type LatencySummary } from './lib/stats.js';
import { Subscribers } from './lib/subscribers.js';

const SUBSCRIBERS = 1000;
const EVENTS = 100;
const INTERVAL_MS = 20;
const BATCH = 50;
const PROBE_TIMEOUT_MS = 30_000;
const COLLECT_TIMEOUT_MS = 15_000;
const PROBE_MODEL = 'bench-probe';
const MEASURED_MODEL = 'bench-fanout';
const MiB = 1024 * 1024;

/** A full collection before each memory reading, so the figures are live memory, not garbage not yet collected. */
const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

interface Memory {
  heapUsed: number;
  rss: number;
}

function memory(): Memory {
  collectGarbage();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss };
}

interface PhaseResult {
  subscribers: number;
  connectMs: number;
  received: number;
  lost: number;
  duplicates: number;
  /** Subscribers that got every event. */
  complete: number;
  latency: LatencySummary;
  publishSpanMs: number;
  memoryOpen: Memory;
}

async function publish(events: EventsService, modelId: string, progress: number) {
  return events.publish(Topic.MODEL_STATUS_CHANGED, {
    modelId,
    status: 'DOWNLOADING',
    progress,
    nodeId: 'bench-node',
    lifecycleStatus: 'DOWNLOADING',
    errorMessage: null,
  });
}

/** Opens `count` subscribers, waits until each is live, publishes the measured events, collects, closes. */
async function phase(app: AppHarness, subs: Subscribers, count: number): Promise<PhaseResult> {
  const events = app.app.get(EventsService);
  const opened = await subs.open({
    url: `${app.url.replace(/^http/, 'ws')}/graphql`,
    count,
    batch: BATCH,
    probeModelId: PROBE_MODEL,
    measuredModelId: MEASURED_MODEL,
  });
  try {
    if (opened.failed > 0)
      throw new Error(`${opened.failed} of ${count} subscribers could not connect: ${opened.firstError}`);
    // graphql-ws does not acknowledge a subscription: probe events tell when the server has every one of them.
    const probeDeadline = Date.now() + PROBE_TIMEOUT_MS;
    let live = 0;
    while (live < count) {
      if (Date.now() > probeDeadline) throw new Error(`only ${live} of ${count} subscriptions live after probing`);
      await publish(events, PROBE_MODEL, 0);
      await sleep(100);
      live = await subs.live();
    }
    await sleep(300);
    const memoryOpen = memory();

    const publishedAt = new Map<number, number>();
    const start = nowMs();
    for (let i = 0; i < EVENTS; i++) {
      const wait = start + i * INTERVAL_MS - nowMs();
      if (wait > 0) await sleep(wait);
      const t0 = nowMs();
      const event = await publish(events, MEASURED_MODEL, i / EVENTS);
      publishedAt.set(event.seq, t0);
    }
    const publishSpanMs = nowMs() - start;

    const got = await subs.collect(EVENTS, COLLECT_TIMEOUT_MS);
    if (got.errors > 0) throw new Error(`${got.errors} subscription errors: ${got.firstError}`);
    const latencies: number[] = [];
    got.seqs.forEach((seq, i) => {
      const sent = publishedAt.get(seq);
      const at = got.receivedAt[i];
      if (sent !== undefined && at !== undefined) latencies.push(at - sent);
    });
    const received = got.perSubscriber.reduce((sum, n) => sum + n, 0);
    return {
      subscribers: opened.connected,
      connectMs: opened.elapsedMs,
      received,
      lost: count * EVENTS - received,
      duplicates: got.duplicates,
      complete: got.perSubscriber.filter((n) => n >= EVENTS).length,
      latency: summarize(latencies),
      publishSpanMs,
      memoryOpen,
    };
  } finally {
    await subs.close();
  }
}

function describe(label: string, r: PhaseResult): string {
  return (
    `${label}: ${r.subscribers} subscribers (connected in ${fmt(r.connectMs)} ms), ${r.received} of ` +
    `${r.subscribers * EVENTS} events received, ${r.duplicates} duplicates; latency p50 ${fmt(r.latency.p50)} / ` +
    `p99 ${fmt(r.latency.p99)} / max ${fmt(r.latency.max)} ms; publishing took ${fmt(r.publishSpanMs)} ms ` +
    `(${(EVENTS - 1) * INTERVAL_MS} planned)`
  );
}

export const fanoutBench: Benchmark = {
  name: 'fanout',
  description: `${SUBSCRIBERS} graphql-ws subscribers on modelStatusChanged, ${EVENTS} events ${INTERVAL_MS} ms apart`,
  async run(): Promise<BenchResult[]> {
    const catalogPath = await writeCatalog([catalogEntry({ id: 'bench-fanout' })]);
    let app: AppHarness | null = null;
    const subs = Subscribers.start();
    try {
      app = await AppHarness.start({ SUPPORTED_MODELS_PATH: catalogPath });
      const baseline = await phase(app, subs, 1);
      log(describe('baseline', baseline));
      const idle = memory();
      const full = await phase(app, subs, SUBSCRIBERS);
      log(describe('fan-out ', full));
      const heapPerSubscriber = (full.memoryOpen.heapUsed - idle.heapUsed) / SUBSCRIBERS / 1024;
      log(
        `memory: server heap ${fmt(idle.heapUsed / MiB)} → ${fmt(full.memoryOpen.heapUsed / MiB)} MiB with ` +
          `${SUBSCRIBERS} subscribers; process RSS ${fmt(idle.rss / MiB)} → ${fmt(full.memoryOpen.rss / MiB)} MiB`,
      );
      const shared = 'subscribers run in a worker thread of the same process: clients and server share the 2 cores';
      return [
        {
          metric: 'subscribers live',
          value: full.subscribers,
          unit: `of ${SUBSCRIBERS}`,
          note: `connected in batches of ${BATCH} in ${fmt(full.connectMs / 1000, 2)} s`,
        },
        {
          metric: 'events lost',
          value: full.lost,
          unit: `of ${SUBSCRIBERS * EVENTS}`,
          goal: '= 0',
          met: full.lost === 0 && full.duplicates === 0,
          note: `${full.complete} subscribers got all ${EVENTS}; ${full.duplicates} duplicates`,
        },
        { metric: 'publish-to-receive p50', value: full.latency.p50, unit: 'ms' },
        {
          metric: 'publish-to-receive p99',
          value: full.latency.p99,
          unit: 'ms',
          goal: '< 100 ms',
          met: full.latency.p99 < 100,
          note: `max ${fmt(full.latency.max)} ms; ${shared}`,
        },
        {
          metric: 'publish-to-receive p99, 1 subscriber (baseline)',
          value: baseline.latency.p99,
          unit: 'ms',
          note: `p50 ${fmt(baseline.latency.p50)} ms`,
        },
        {
          metric: `p99 ${SUBSCRIBERS} subscribers / 1 subscriber`,
          value: full.latency.p99 / baseline.latency.p99,
          unit: '×',
        },
        {
          metric: 'publishing 100 events took',
          value: full.publishSpanMs,
          unit: 'ms',
          note:
            `${(EVENTS - 1) * INTERVAL_MS} ms planned; the publisher shares the server's event loop, so a longer span ` +
            `means one event to ${SUBSCRIBERS} subscribers took ≈ ${fmt(full.publishSpanMs / EVENTS)} ms of it ` +
            `(over ${INTERVAL_MS} ms: delivery cannot keep up with one event every ${INTERVAL_MS} ms)`,
        },
        {
          metric: 'server heap per subscriber',
          value: heapPerSubscriber,
          unit: 'KiB',
          note: 'main-thread heap after GC',
        },
        {
          metric: 'process RSS with subscribers',
          value: full.memoryOpen.rss / MiB,
          unit: 'MiB',
          note: `${fmt(idle.rss / MiB)} MiB before; RSS includes the subscribers' worker thread`,
        },
      ];
    } finally {
      await subs.terminate();
      await app?.stop();
      await rm(dirname(catalogPath), { recursive: true, force: true });
    }
  },
};
