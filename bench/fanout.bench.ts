import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { EventsService } from '../src/events/events.service.js';
import { Topic } from '../src/events/topics.js';
import { modelSnapshotPayload, RegistryService } from '../src/registry/registry.service.js';
import { AppHarness } from '../test/support/app-harness.js';
import { catalogEntry, writeCatalog } from '../test/support/factories.js';
import type { Benchmark, BenchResult } from './bench.types.js';
import { fmt, log, nowMs, sleep, summarize, type LatencySummary } from './lib/stats.js';
import { Subscribers } from './lib/subscribers.js';

const SUBSCRIBERS = 1000;
const EVENTS = 100;
/**
 * The measured rate, 20 events/s: 4 downloads × 5 progress events/s each (the relay coalesces progress to a few events a
 * second per node × model), a busy dashboard's load. DESIGN.md's goal (no event lost, p99 < 100 ms) applies here.
 */
const INTERVAL_MS = 50;
/** The saturation run, 50 events/s on the same subscribers: past what one server thread delivers to 1,000; no goal. */
const SATURATION_INTERVAL_MS = 20;
const BATCH = 50;
const PROBE_TIMEOUT_MS = 30_000;
const COLLECT_TIMEOUT_MS = 15_000;
/** Between two runs on the same connections, so the first one's tail does not overlap the second. */
const SETTLE_MS = 300;
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

/** One run: EVENTS events `intervalMs` apart to every open subscriber, then everything they received. */
interface RunResult {
  subscribers: number;
  intervalMs: number;
  received: number;
  lost: number;
  duplicates: number;
  /** Subscribers that got every event. */
  complete: number;
  latency: LatencySummary;
  /**
   * Receive time minus the time the event was due by the schedule: unlike `latency`, it also counts how late the
   * publisher itself got (a saturated event loop delays it), as an open-loop producer (another replica) would see it.
   */
  fromSchedule: LatencySummary;
  /** First publish to the last publish returning: the publisher shares the server's event loop. */
  publishSpanMs: number;
  /**
   * Main-thread (server) event-loop busy time from the first publish until every subscriber had every event, per event:
   * what one event cost the server whether or not it kept up.
   */
  busyMsPerEvent: number;
}

interface Opened {
  connected: number;
  connectMs: number;
}

const BENCH_NODE = '00000000-0000-4000-8000-000000000001';
const MiB_TOTAL = 512 * 1024 * 1024;

/**
 * A progress event as the relay publishes it: the model (a catalog entry's snapshot, as registry.find reads it) and the
 * node × model state that changed, each with its id.
 */
async function publish(app: AppHarness, modelId: string, progress: number) {
  const view = (await app.app.get(RegistryService).find(modelId))!;
  const bytesDone = Math.round(progress * MiB_TOTAL);
  return app.app.get(EventsService).publish(Topic.MODEL_STATUS_CHANGED, {
    modelId,
    status: 'DOWNLOADING',
    progress,
    nodeId: BENCH_NODE,
    lifecycleStatus: 'DOWNLOADING',
    errorMessage: null,
    model: { ...modelSnapshotPayload(view), status: 'DOWNLOADING', downloadProgress: progress },
    state: {
      nodeId: BENCH_NODE,
      modelId,
      lifecycleStatus: 'DOWNLOADING',
      bytesDone,
      bytesTotal: MiB_TOTAL,
      bytesPerSecond: 25 * 1024 * 1024,
      filePath: null,
      errorCode: null,
      errorMessage: null,
      updatedAt: new Date().toISOString(),
      revision: bytesDone,
    },
  });
}

/** Opens `count` subscribers and waits until the server has every subscription. */
async function openLive(app: AppHarness, subs: Subscribers, count: number): Promise<Opened> {
  const opened = await subs.open({
    url: `${app.url.replace(/^http/, 'ws')}/graphql`,
    connectionParams: app.authHeaders(),
    count,
    batch: BATCH,
    probeModelId: PROBE_MODEL,
    measuredModelId: MEASURED_MODEL,
  });
  if (opened.failed > 0)
    throw new Error(`${opened.failed} of ${count} subscribers could not connect: ${opened.firstError}`);
  // graphql-ws does not acknowledge a subscription: probe events tell when the server has every one of them.
  const probeDeadline = Date.now() + PROBE_TIMEOUT_MS;
  let live = 0;
  while (live < count) {
    if (Date.now() > probeDeadline) throw new Error(`only ${live} of ${count} subscriptions live after probing`);
    await publish(app, PROBE_MODEL, 0);
    await sleep(100);
    live = await subs.live();
  }
  await sleep(SETTLE_MS);
  return { connected: opened.connected, connectMs: opened.elapsedMs };
}

/** Publishes EVENTS measured events `intervalMs` apart to the open subscribers and collects what they received. */
async function run(app: AppHarness, subs: Subscribers, count: number, intervalMs: number): Promise<RunResult> {
  await subs.reset();
  const publishedAt = new Map<number, number>();
  const dueAt = new Map<number, number>();
  const elu = performance.eventLoopUtilization();
  const start = nowMs();
  for (let i = 0; i < EVENTS; i++) {
    const due = start + i * intervalMs;
    const wait = due - nowMs();
    if (wait > 0) await sleep(wait);
    const t0 = nowMs();
    const event = await publish(app, MEASURED_MODEL, i / EVENTS);
    publishedAt.set(event.seq, t0);
    dueAt.set(event.seq, due);
  }
  const publishSpanMs = nowMs() - start;

  const got = await subs.collect(EVENTS, COLLECT_TIMEOUT_MS);
  const busyMs = performance.eventLoopUtilization(elu).active;
  if (got.errors > 0) throw new Error(`${got.errors} subscription errors: ${got.firstError}`);
  const latencies: number[] = [];
  const lateness: number[] = [];
  got.seqs.forEach((seq, i) => {
    const sent = publishedAt.get(seq);
    const due = dueAt.get(seq);
    const at = got.receivedAt[i];
    if (sent !== undefined && due !== undefined && at !== undefined) {
      latencies.push(at - sent);
      lateness.push(at - due);
    }
  });
  const received = got.perSubscriber.reduce((sum, n) => sum + n, 0);
  return {
    subscribers: count,
    intervalMs,
    received,
    lost: count * EVENTS - received,
    duplicates: got.duplicates,
    complete: got.perSubscriber.filter((n) => n >= EVENTS).length,
    latency: summarize(latencies),
    fromSchedule: summarize(lateness),
    publishSpanMs,
    busyMsPerEvent: busyMs / EVENTS,
  };
}

const perSecond = (intervalMs: number): number => 1000 / intervalMs;
const planned = (intervalMs: number): number => (EVENTS - 1) * intervalMs;

function describe(label: string, r: RunResult): string {
  return (
    `${label} (${r.subscribers} subscribers, ${perSecond(r.intervalMs)} events/s): ${r.received} of ` +
    `${r.subscribers * EVENTS} events received, ${r.duplicates} duplicates; latency p50 ${fmt(r.latency.p50)} / ` +
    `p99 ${fmt(r.latency.p99)} / max ${fmt(r.latency.max)} ms (from the scheduled time: p99 ` +
    `${fmt(r.fromSchedule.p99)} / max ${fmt(r.fromSchedule.max)} ms); publishing took ${fmt(r.publishSpanMs)} ms ` +
    `(${planned(r.intervalMs)} planned); server busy ${fmt(r.busyMsPerEvent, 2)} ms per event`
  );
}

export const fanoutBench: Benchmark = {
  name: 'fanout',
  description:
    `${SUBSCRIBERS} graphql-ws subscribers on modelStatusChanged, ${EVENTS} events at ${perSecond(INTERVAL_MS)}/s ` +
    `(measured), then ${EVENTS} at ${perSecond(SATURATION_INTERVAL_MS)}/s (saturation)`,
  async run(): Promise<BenchResult[]> {
    const catalogPath = await writeCatalog([catalogEntry({ id: MEASURED_MODEL }), catalogEntry({ id: PROBE_MODEL })]);
    let app: AppHarness | null = null;
    const subs = Subscribers.start();
    try {
      app = await AppHarness.start({ SUPPORTED_MODELS_PATH: catalogPath });

      await openLive(app, subs, 1);
      const baseline = await run(app, subs, 1, INTERVAL_MS);
      log(describe('baseline  ', baseline));
      await subs.close();

      const idle = memory();
      const opened = await openLive(app, subs, SUBSCRIBERS);
      const open = memory();
      let full: RunResult;
      let saturation: RunResult;
      try {
        full = await run(app, subs, SUBSCRIBERS, INTERVAL_MS);
        log(describe('fan-out   ', full));
        await sleep(SETTLE_MS);
        saturation = await run(app, subs, SUBSCRIBERS, SATURATION_INTERVAL_MS);
        log(describe('saturation', saturation));
      } finally {
        await subs.close();
      }
      log(
        `memory: server heap ${fmt(idle.heapUsed / MiB)} → ${fmt(open.heapUsed / MiB)} MiB with ` +
          `${SUBSCRIBERS} subscribers; process RSS ${fmt(idle.rss / MiB)} → ${fmt(open.rss / MiB)} MiB`,
      );

      // Saturated, the publisher (on the server's event loop) publishes only as fast as the server delivers, so the
      // publishing span over the events is what one event to every subscriber costs the server's thread.
      const serverMsPerEvent = saturation.publishSpanMs / EVENTS;
      const keptUp = saturation.publishSpanMs < planned(SATURATION_INTERVAL_MS) * 1.1;
      const heapPerSubscriber = (open.heapUsed - idle.heapUsed) / SUBSCRIBERS / 1024;
      const shared = 'subscribers run in a worker thread of the same process: clients and server share the 2 cores';
      const rate = `${perSecond(INTERVAL_MS)} events/s`;
      const satRate = `${perSecond(SATURATION_INTERVAL_MS)} events/s`;
      return [
        {
          metric: 'subscribers live',
          value: opened.connected,
          unit: `of ${SUBSCRIBERS}`,
          note: `connected in batches of ${BATCH} in ${fmt(opened.connectMs / 1000, 2)} s`,
        },
        {
          metric: `events lost at ${rate}`,
          value: full.lost,
          unit: `of ${SUBSCRIBERS * EVENTS}`,
          goal: '= 0',
          met: full.lost === 0 && full.duplicates === 0,
          note: `${full.complete} subscribers got all ${EVENTS}; ${full.duplicates} duplicates`,
        },
        { metric: `publish-to-receive p50 at ${rate}`, value: full.latency.p50, unit: 'ms' },
        {
          metric: `publish-to-receive p99 at ${rate}`,
          value: full.latency.p99,
          unit: 'ms',
          goal: '< 100 ms',
          met: full.latency.p99 < 100,
          note:
            `max ${fmt(full.latency.max)} ms; from each event's scheduled time p99 ${fmt(full.fromSchedule.p99)} ms; ` +
            shared,
        },
        {
          metric: `publish-to-receive p99, 1 subscriber at ${rate} (baseline)`,
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
          metric: `publishing ${EVENTS} events at ${rate} took`,
          value: full.publishSpanMs,
          unit: 'ms',
          note: `${planned(INTERVAL_MS)} ms planned`,
        },
        {
          metric: `server busy per event, ${SUBSCRIBERS} subscribers at ${rate}`,
          value: full.busyMsPerEvent,
          unit: 'ms',
          note:
            `main-thread event-loop active time / events; 1 subscriber: ${fmt(baseline.busyMsPerEvent, 2)} ms, so ` +
            `≈ ${fmt(((full.busyMsPerEvent - baseline.busyMsPerEvent) / (SUBSCRIBERS - 1)) * 1000, 1)} µs per extra subscriber`,
        },
        {
          metric: `saturation: events lost at ${satRate}`,
          value: saturation.lost,
          unit: `of ${SUBSCRIBERS * EVENTS}`,
          note: `no goal; ${saturation.duplicates} duplicates`,
        },
        {
          metric: `saturation: publish-to-receive p99 at ${satRate}`,
          value: saturation.latency.p99,
          unit: 'ms',
          note: `no goal; p50 ${fmt(saturation.latency.p50)} ms, max ${fmt(saturation.latency.max)} ms`,
        },
        {
          metric: `saturation: receive p99 from the scheduled time at ${satRate}`,
          value: saturation.fromSchedule.p99,
          unit: 'ms',
          note:
            `no goal; max ${fmt(saturation.fromSchedule.max)} ms. The publisher waits on the busy event loop, which ` +
            `hides a backlog from publish-to-receive; counted from when each event was due, the backlog shows`,
        },
        {
          metric: `saturation: publishing ${EVENTS} events at ${satRate} took`,
          value: saturation.publishSpanMs,
          unit: 'ms',
          note: `${planned(SATURATION_INTERVAL_MS)} ms planned`,
        },
        {
          metric: `server time per event to ${fmt(SUBSCRIBERS)} subscribers`,
          value: serverMsPerEvent,
          unit: 'ms',
          note: keptUp
            ? `saturation publish span / ${EVENTS} events; the server kept up with ${satRate}, so this is an upper ` +
              `bound (the busy figure above is closer)`
            : `saturation publish span / ${EVENTS} events: the publisher shares the server's event loop, so once it ` +
              `is saturated each event takes this long of it`,
        },
        {
          metric: 'max sustainable events/s ≈ 1000 / that',
          value: 1000 / serverMsPerEvent,
          unit: 'events/s',
          note:
            `to ${fmt(SUBSCRIBERS)} subscribers on one server thread; ≈ ${fmt(1000 / full.busyMsPerEvent)} from the ` +
            `busy time at ${rate}`,
        },
        {
          metric: 'server heap per subscriber',
          value: heapPerSubscriber,
          unit: 'KiB',
          note: 'main-thread heap after GC',
        },
        {
          metric: 'process RSS with subscribers',
          value: open.rss / MiB,
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
