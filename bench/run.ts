import { availableParallelism } from 'node:os';
import { authBench } from './auth.bench.js';
import type { Benchmark, BenchResult } from './bench.types.js';
import { dashboardBench } from './dashboard.bench.js';
import { downloadBench } from './download.bench.js';
import { fanoutBench } from './fanout.bench.js';
import { fleetBench } from './fleet.bench.js';
import { hubColdBurstBench } from './hub-cold-burst.bench.js';
import { fmt } from './lib/stats.js';
import { modelsQueryBench } from './models-query.bench.js';
import { peerCopyBench } from './peer-copy.bench.js';

/**
 * Every benchmark, in the order `npm run bench` runs them. Register a new one here: a module exporting a `Benchmark`.
 * `fanout` goes first: its process RSS figure would otherwise count what earlier benchmarks left in this process (after
 * `models-query` and `hub-cold-burst`, RSS idled at ~700 MiB instead of ~175). `download` goes last: its Hub holds a
 * 1 GiB file in memory.
 */
const BENCHMARKS: readonly Benchmark[] = [
  fanoutBench,
  modelsQueryBench,
  authBench,
  hubColdBurstBench,
  dashboardBench,
  fleetBench,
  peerCopyBench,
  downloadBench,
];

/**
 * A benchmark that has not finished by then (or by its own `timeoutMs`) is reported as crashed (the process exits at
 * the end regardless).
 */
const BENCH_TIMEOUT_MS = 180_000;

interface Outcome {
  bench: Benchmark;
  results: BenchResult[];
  error: string | null;
  seconds: number;
}

function verdict(r: BenchResult): string {
  if (!r.goal) return '';
  if (r.met === undefined) return `goal ${r.goal}`;
  return `goal ${r.goal}: ${r.met ? 'met' : 'MISSED'}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((row) => (row[col] ?? '').length))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, col) => cell.padEnd(widths[col] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not finish within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function runOne(bench: Benchmark): Promise<Outcome> {
  console.log(`\n== ${bench.name}: ${bench.description}`);
  const start = performance.now();
  try {
    const results = await withTimeout(bench.run(), bench.timeoutMs ?? BENCH_TIMEOUT_MS);
    const seconds = (performance.now() - start) / 1000;
    for (const r of results) {
      const tail = [verdict(r), r.note ?? ''].filter(Boolean).join(' · ');
      console.log(`  ${r.metric}: ${fmt(r.value, 2)} ${r.unit}${tail ? `  (${tail})` : ''}`);
    }
    console.log(`  [${fmt(seconds)} s]`);
    return { bench, results, error: null, seconds };
  } catch (err) {
    const seconds = (performance.now() - start) / 1000;
    const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    console.log(`  CRASHED after ${fmt(seconds)} s: ${error}`);
    return { bench, results: [], error, seconds };
  }
}

async function main(): Promise<number> {
  const filters = process.argv.slice(2).map((f) => f.toLowerCase());
  const selected = filters.length
    ? BENCHMARKS.filter((b) => filters.some((f) => b.name.toLowerCase().includes(f)))
    : BENCHMARKS;
  if (selected.length === 0) {
    console.error(`No benchmark matches ${filters.join(', ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}`);
    return 2;
  }
  console.log(
    `llmfleet benchmarks: ${selected.map((b) => b.name).join(', ')} — figures, not assertions; ratios are against ` +
      `baselines measured in this same run (a shared, noisy machine)`,
  );
  // graphql-js checks every instanceof the slow way unless NODE_ENV is production (the Dockerfile sets it).
  console.log(`NODE_ENV=${process.env.NODE_ENV ?? '(unset)'}, Node ${process.version}, ${availableParallelism()} CPUs`);

  const outcomes: Outcome[] = [];
  for (const bench of selected) outcomes.push(await runOne(bench));

  const rows: string[][] = [['benchmark', 'metric', 'value', 'goal']];
  for (const o of outcomes) {
    if (o.error) rows.push([o.bench.name, 'CRASHED', '', o.error.split('\n')[0] ?? '']);
    for (const r of o.results) rows.push([o.bench.name, r.metric, `${fmt(r.value, 2)} ${r.unit}`, verdict(r)]);
  }
  console.log(`\n== summary\n${table(rows)}`);
  const missed = outcomes.flatMap((o) => o.results).filter((r) => r.met === false).length;
  const crashed = outcomes.filter((o) => o.error).length;
  console.log(`\n${missed} goal(s) missed, ${crashed} benchmark(s) crashed`);
  return crashed > 0 ? 1 : 0;
}

// Exit explicitly: a crashed benchmark may leave sockets or timers behind.
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
