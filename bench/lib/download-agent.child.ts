/**
 * Runs the node agent's FileDownloader once, alone in this process, so its memory can be measured in isolation:
 * `node download-agent.child.js '<DownloadSpec as JSON>' ['<FileDownloaderOptions as JSON>']` prints one line of
 * JSON (an AgentDownloadRun).
 */
import {
  FileDownloader,
  type DownloadSpec,
  type FileDownloaderOptions,
} from '../../src/agent/download/file-downloader.js';
import { sha256OfFile } from '../../src/agent/download/file-hasher.js';

export type AgentDownloadRun =
  | {
      ok: true;
      /** download() called to resolved: the GET, 302, streaming to disk with sha256, fsync, verify, rename. */
      elapsedMs: number;
      bytesFetched: number;
      retries: number;
      sha256: string;
      /** RSS once the downloader was loaded and the hashing thread running (as in an agent), before the download. */
      rssBeforeBytes: number;
      /** What starting the hashing thread added (a fixed cost of the agent, paid once, not per download). */
      hashThreadBytes: number;
      /** Highest RSS sampled every SAMPLE_MS during the download. */
      rssPeakBytes: number;
      rssAfterBytes: number;
      samples: number;
    }
  | { ok: false; error: string };

const SAMPLE_MS = 50;

function print(run: AgentDownloadRun): void {
  process.stdout.write(`${JSON.stringify(run)}\n`);
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as DownloadSpec;
  const options = JSON.parse(process.argv[3] ?? '{}') as FileDownloaderOptions;
  const downloader = new FileDownloader(options);
  const rssLoaded = process.memoryUsage.rss();
  // The agent starts its hashing thread when it starts; hashing this script has the thread up before measuring.
  await sha256OfFile(process.argv[1] ?? '');
  const rssBeforeBytes = process.memoryUsage.rss();
  let rssPeakBytes = rssBeforeBytes;
  let samples = 0;
  const sampler = setInterval(() => {
    samples += 1;
    rssPeakBytes = Math.max(rssPeakBytes, process.memoryUsage.rss());
  }, SAMPLE_MS);
  try {
    const t0 = performance.now();
    const result = await downloader.download(spec, {});
    const elapsedMs = performance.now() - t0;
    const rssAfterBytes = process.memoryUsage.rss();
    rssPeakBytes = Math.max(rssPeakBytes, rssAfterBytes);
    print({
      ok: true,
      elapsedMs,
      bytesFetched: result.bytesFetched,
      retries: result.retries,
      sha256: result.sha256,
      rssBeforeBytes,
      hashThreadBytes: rssBeforeBytes - rssLoaded,
      rssPeakBytes,
      rssAfterBytes,
      samples,
    });
  } finally {
    clearInterval(sampler);
  }
}

main().catch((err: unknown) => {
  print({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exitCode = 1;
});
