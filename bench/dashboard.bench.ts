import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { launchBrowser } from '../test/support/browser.js';
import type { Benchmark, BenchResult } from './bench.types.js';
import { fmt, log, summarize } from './lib/stats.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WEB = join(ROOT, 'dist', 'web');
const WEB_BENCH = join(ROOT, 'dist', 'web-bench');
const BUDGET_KB = 250;

interface PageFigures {
  nodes: number;
  models: number;
  cellsInDom: number;
  /** From mounting the Fleet page to its first cells in the DOM: answers parsed, store loaded, React rendered. */
  firstCellsMs: number;
  /** Two more frames: layout and paint. */
  renderMs: number;
  totalMs: number;
  events: number;
  achievedRate: number;
  latencies: number[];
}

/** The JavaScript index.html loads before anything is shown: its entry script and every modulepreload, gzipped. */
async function initialJs(): Promise<{ gzipKb: number; rawKb: number; files: number }> {
  const html = await readFile(join(WEB, 'index.html'), 'utf8');
  const refs = [...html.matchAll(/(?:src|href)="\.\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]!);
  let gzip = 0;
  let raw = 0;
  for (const ref of new Set(refs)) {
    const body = await readFile(join(WEB, ref));
    raw += body.length;
    gzip += gzipSync(body, { level: 9 }).length;
  }
  return { gzipKb: gzip / 1024, rawKb: raw / 1024, files: new Set(refs).size };
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };

function serve(dir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(
      /^(\.\.[/\\])+/,
      '',
    );
    const file = path === '/' ? 'matrix.html' : path;
    readFile(join(dir, file)).then(
      (body) => res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/**
 * Dashboard: the initial JavaScript against its budget; the Fleet page at 200 nodes × 100 models (its answers parsed,
 * states in the matrix's store, virtualised) against the same page at 20 × 10 in the same run; then 50 progress events
 * a second, each timed from applying the event (live.ts) to the cell's bar showing it, in Debian's Chromium.
 */
export const dashboardBench: Benchmark = {
  name: 'dashboard',
  description: 'initial JS (gzip), matrix render at 200 nodes × 100 models, browser time per event at 50 events/s',
  async run(): Promise<BenchResult[]> {
    const js = await initialJs();
    log(`initial JS: ${js.files} files, ${fmt(js.rawKb)} KB raw`);

    const built = spawnSync(
      join(ROOT, 'node_modules', '.bin', 'vite'),
      ['build', '--config', 'web/vite.bench.config.ts'],
      {
        cwd: ROOT,
        stdio: 'inherit',
      },
    );
    if (built.status !== 0) throw new Error('vite build of the matrix benchmark page failed');

    const server = await serve(WEB_BENCH);
    const browser = await launchBrowser();
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const measure = async (query: string): Promise<PageFigures> => {
      const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
      try {
        await page.goto(`${url}?${query}`);
        await page.waitForFunction(() => '__bench' in globalThis, undefined, { timeout: 150_000 });
        return (await page.evaluate(() => (globalThis as unknown as { __bench: unknown }).__bench)) as PageFigures;
      } finally {
        await page.close();
      }
    };
    try {
      // The browser's first page pays its own start-up: measured apart, not counted.
      const warm = await measure('nodes=20&models=10&seconds=1');
      log(`warm-up page (20 × 10): ${fmt(warm.totalMs)} ms`);
      const small = await measure('nodes=20&models=10&seconds=1');
      const big = await measure('nodes=200&models=100&rate=50&seconds=3');
      const ev = summarize(big.latencies);
      log(
        `200 × 100: answers parsed to first cells ${fmt(big.firstCellsMs)} ms + paint ${fmt(big.renderMs)} ms, ${big.cellsInDom} cells in the DOM; ` +
          `20 × 10: ${fmt(small.totalMs)} ms`,
      );
      log(
        `events: ${big.events} at ${fmt(big.achievedRate)}/s; p50 ${fmt(ev.p50)} ms, p95 ${fmt(ev.p95)} ms, max ${fmt(ev.max)} ms`,
      );
      return [
        {
          metric: 'initial JS (gzip)',
          value: js.gzipKb,
          unit: 'KB',
          goal: `≤ ${BUDGET_KB} KB`,
          met: js.gzipKb <= BUDGET_KB,
          note: `${fmt(js.gzipKb / BUDGET_KB, 2)}× the budget`,
        },
        {
          metric: 'matrix 200 × 100 to first paint',
          value: big.totalMs,
          unit: 'ms',
          goal: '< 1000 ms',
          met: big.totalMs < 1000,
          note: `${fmt(big.totalMs / small.totalMs, 2)}× the 20 × 10 matrix (${fmt(small.totalMs)} ms)`,
        },
        {
          metric: 'event to cell updated, p95 (50 events/s)',
          value: ev.p95,
          unit: 'ms',
          goal: '< 20 ms (keeps up with 50/s)',
          met: ev.p95 < 20 && big.achievedRate >= 45,
          note: `mean ${fmt(ev.mean)} ms, achieved ${fmt(big.achievedRate)} events/s`,
        },
      ];
    } finally {
      await browser.close();
      await new Promise((r) => server.close(r));
    }
  },
};
