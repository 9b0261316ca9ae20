import { constants } from 'node:fs';
import { mkdir, open, rename, statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ByteRanges } from './byte-ranges.js';
import { DownloadError, DownloadErrorCode, isDownloadError } from './download.errors.js';
import type { DownloadOptions, DownloadProgress, DownloadResult, DownloadSpec, StatFs } from './download.types.js';
import { FileHasher } from './file-hasher.js';
import { diskError } from './file-range-writer.js';
import { describeUrl } from './http-get.client.js';
import { parallelTransfer, type ParallelPlan } from './parallel-transfer.js';
import { holdsExpectedBytes, syncDirectory, usablePartialLength } from './partial-file.js';
import {
  loadPartialState,
  partialPathOf,
  removePartial,
  removePartialState,
  savePartialState,
} from './partial-state.js';
import { abortedError, ProgressReporter, SharedDownload } from './shared-download.js';
import { streamTransfer } from './stream-transfer.js';
import { transferFromSources, type Contribution } from './source-switch.js';
import { SyncScheduler } from './sync-scheduler.js';
import { TransferContext, type RetryPolicy } from './transfer-context.js';

export type { DownloadOptions, DownloadProgress, DownloadResult, DownloadSpec, StatFs } from './download.types.js';

export interface FileDownloaderOptions {
  /** Free-space probe of the destination directory (default `fs.promises.statfs`). */
  statfs?: StatFs;
  /** Longest wait between two attempts, Retry-After included; a longer Retry-After fails RATE_LIMITED. Default 60000. */
  maxRetryDelayMs?: number;
  /** Minimum interval between progress callbacks. Default 100. */
  progressIntervalMs?: number;
  userAgent?: string;
  /** In [0, 1): jitter of the backoff. */
  random?: () => number;
  /** Connections at once for one file (1: a single stream). Default 8. */
  connections?: number;
  /** Bytes asked per ranged request; a file of fewer than two pieces uses one stream. Default 16 MiB. */
  chunkBytes?: number;
  /** An fdatasync of the `.partial` whenever this many more bytes were written. Default 32 MiB. */
  syncEveryBytes?: number;
}

const MiB = 1024 * 1024;
const DEFAULT_RESERVE_BYTES = 256 * MiB;
export const DEFAULT_CONNECTIONS = 8;
export const DEFAULT_CHUNK_BYTES = 16 * MiB;
const DEFAULT_SYNC_EVERY_BYTES = 32 * MiB;
/** Rounds of a file whose sha256 failed with bytes from peers: each round drops them and starts over. */
const MAX_SOURCE_ROUNDS = 3;

/** One download per destination file in this process, whichever FileDownloader instance asked. */
const inFlight = new Map<string, SharedDownload>();

/**
 * Downloads one file from the Hub into place: disk-space preflight, resumable `.partial` (several ranged connections
 * for a large file, their progress kept in a state file beside it), sha256 computed in order by a hashing thread,
 * periodic fdatasync, transient faults retried with backoff inside the call, size + sha256 + `verify` before an
 * atomic rename.
 */
export class FileDownloader {
  constructor(private readonly options: FileDownloaderOptions = {}) {}

  async download(spec: DownloadSpec, opts: DownloadOptions = {}): Promise<DownloadResult> {
    validateSpec(spec);
    const key = resolve(spec.destPath);
    for (let running = inFlight.get(key); running; running = inFlight.get(key)) {
      // The same bytes for the same path: share the transfer. Other bytes, or one being cancelled: wait, then go.
      if (running.serves(spec)) return running.join(opts);
      await running.settled;
    }
    const shared = new SharedDownload(spec, (signal, emit) =>
      this.run(spec, opts, signal, emit).catch((err: unknown) => Promise.reject(asDownloadError(err))),
    );
    inFlight.set(key, shared);
    void shared.settled.then(() => {
      if (inFlight.get(key) === shared) inFlight.delete(key);
    });
    return shared.join(opts);
  }

  private async run(
    spec: DownloadSpec,
    opts: DownloadOptions,
    signal: AbortSignal,
    emit: (progress: DownloadProgress) => void,
  ): Promise<DownloadResult> {
    const expected = spec.sha256.toLowerCase();
    const partialPath = partialPathOf(spec.destPath);
    const dir = dirname(resolve(spec.destPath));
    const progress = new ProgressReporter(spec.size, emit, this.options.progressIntervalMs ?? 100);
    throwIfAborted(signal);

    if (await holdsExpectedBytes(spec.destPath, spec.size, expected, signal)) {
      progress.finish(spec.size);
      return { path: spec.destPath, sha256: expected, resumedFromBytes: 0, bytesFetched: 0, skipped: true, retries: 0 };
    }
    await mkdir(dir, { recursive: true });
    const recorded = await loadPartialState(spec);
    let kept = recorded ?? new ByteRanges([[0, await usablePartialLength(partialPath, spec.size)]]);
    // A complete .partial (a crash between fsync and rename) needs no room: it is only verified and renamed.
    if (kept.total() < spec.size) {
      await this.ensureFreeSpace(dir, spec.size - kept.total(), opts.reserveBytes ?? DEFAULT_RESERVE_BYTES);
    }
    const plan = kept.total() < spec.size ? this.parallelPlan(spec.size) : null;

    // O_NOFOLLOW: a symbolic link planted where the .partial goes is never written through.
    const file = await open(partialPath, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
    const hasher = new FileHasher(partialPath);
    let sync: SyncScheduler<[number, number][]> | null = null;
    let fileOpen = true;
    const closeFile = async (): Promise<void> => {
      await sync?.idle();
      if (fileOpen) await file.close();
      fileOpen = false;
    };
    try {
      if (plan !== null && recorded === null) {
        // The state file first, durably: from now on the .partial has the file's size and only it says what is real.
        await savePartialState(spec, kept, true);
        await file.truncate(spec.size);
      } else if (plan === null && recorded !== null) {
        // Ranges recorded by several connections, finished by one stream (or already complete): keep the prefix.
        kept = new ByteRanges([[0, kept.contiguousEnd()]]);
        await file.truncate(kept.total());
        await removePartialState(spec.destPath);
      } else if (plan === null) {
        await file.truncate(kept.total());
      }
      const ctx = new TransferContext(spec, opts, file, hasher, progress, signal, kept);
      hasher.advance(kept.contiguousEnd(), true);
      let recording = plan !== null;
      sync = new SyncScheduler(
        file.fd,
        this.options.syncEveryBytes ?? DEFAULT_SYNC_EVERY_BYTES,
        () => ctx.ranges.list(),
        async (done) => {
          if (recording) await savePartialState(spec, new ByteRanges(done));
        },
      );
      ctx.sync = sync;
      const provider = opts.sources ?? null;
      const excluded = new Set<string>();
      const transfer = async (): Promise<void> => {
        if (plan !== null) {
          const outcome = await parallelTransfer(ctx, this.retryPolicy(), plan);
          if (outcome === 'ranges-unsupported') {
            recording = false;
            await sync!.idle();
            await ctx.restartFromZero();
            await removePartialState(spec.destPath);
            await streamTransfer(ctx, this.retryPolicy());
          }
        } else {
          await streamTransfer(ctx, this.retryPolicy());
        }
      };
      for (let round = 1; ; round += 1) {
        let used: Contribution[] = [];
        try {
          if (ctx.ranges.total() < spec.size) {
            if (provider) {
              used = await transferFromSources(ctx, provider, excluded, opts.minPeerBytesPerSecond ?? 0, transfer);
            } else {
              await transfer();
            }
          }
        } catch (err) {
          if (isDownloadError(err, DownloadErrorCode.SIZE_MISMATCH)) {
            recording = false;
            await closeFile();
            await removePartial(spec.destPath);
          } else if (recording) {
            // Everything written so far stays usable: sync it and record it for the next attempt.
            await sync.flush().catch(() => undefined);
          }
          throw err;
        }

        const actual = await hasher.digest(spec.size, signal);
        const last = used.at(-1);
        if (actual === expected) {
          if (last) provider?.report(last.source, 'DONE', last.bytes);
          break;
        }
        // Integrity never rests on a peer: every peer that supplied bytes of a file that fails its sha256 is reported.
        const suspects = used.filter((u) => u.source.kind === 'PEER' && u.bytes > 0);
        for (const u of suspects) {
          provider?.report(u.source, 'BAD_BYTES', u.bytes, `the file's sha256 was ${actual}, expected ${expected}`);
          excluded.add(u.source.peerId ?? u.source.url);
        }
        if (last && !suspects.includes(last)) provider?.report(last.source, 'FAILED', last.bytes, 'sha256 mismatch');
        if (suspects.length > 0 && round < MAX_SOURCE_ROUNDS) {
          await sync.idle();
          await ctx.restartFromZero();
          if (recording) {
            await savePartialState(spec, new ByteRanges(), true);
            await file.truncate(spec.size);
          }
          ctx.retries += 1;
          continue;
        }
        recording = false;
        await closeFile();
        await removePartial(spec.destPath);
        throw new DownloadError(
          DownloadErrorCode.CHECKSUM_MISMATCH,
          `sha256 of ${describeUrl(spec.url)} is ${actual}, expected ${expected}; the partial file was deleted`,
          { details: { expected, actual, resumedFromBytes: ctx.resumedFrom } },
        );
      }
      recording = false;
      await verifyOrDelete(opts.verify, spec.destPath, closeFile);
      await sync.flush();
      // Before the rename: a state file must never outlive its .partial into a later download of the same path.
      await removePartialState(spec.destPath);
      await closeFile();
      await rename(partialPath, spec.destPath).catch((err: NodeJS.ErrnoException) => Promise.reject(diskError(err)));
      await syncDirectory(dir);
      progress.finish(spec.size);
      return {
        path: spec.destPath,
        sha256: expected,
        resumedFromBytes: ctx.resumedFrom,
        bytesFetched: ctx.fetched,
        skipped: false,
        retries: ctx.retries,
      };
    } finally {
      await closeFile();
      hasher.close();
    }
  }

  /** Several connections for a file of at least two pieces, unless configured to one. */
  private parallelPlan(size: number): ParallelPlan | null {
    const connections = this.options.connections ?? DEFAULT_CONNECTIONS;
    const chunkBytes = this.options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    return connections > 1 && size >= 2 * chunkBytes ? { connections, chunkBytes } : null;
  }

  private retryPolicy(): RetryPolicy {
    return {
      maxRetryDelayMs: this.options.maxRetryDelayMs ?? 60_000,
      userAgent: this.options.userAgent,
      ...(this.options.random ? { random: this.options.random } : {}),
    };
  }

  private async ensureFreeSpace(dir: string, remaining: number, reserve: number): Promise<void> {
    const fs = await (this.options.statfs ?? statfs)(dir);
    const available = Number(BigInt(fs.bavail) * BigInt(fs.bsize));
    if (available < remaining + reserve) {
      throw new DownloadError(
        DownloadErrorCode.INSUFFICIENT_DISK,
        `not enough free space in ${dir}: ${remaining} bytes to download plus ${reserve} to keep free, ${available} available`,
        { details: { dir, required: remaining, reserve, available } },
      );
    }
  }
}

/** Local filesystem failures (mkdir, open, rename) reach the caller as IO_ERROR / INSUFFICIENT_DISK too. */
function asDownloadError(err: unknown): Error {
  if (isDownloadError(err)) return err;
  const e = err as NodeJS.ErrnoException;
  return typeof e.code === 'string' && e.code.startsWith('E') ? diskError(e) : e;
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw abortedError(signal.reason);
}

function validateSpec(spec: DownloadSpec): void {
  if (!Number.isSafeInteger(spec.size) || spec.size < 0) throw new TypeError(`invalid size ${spec.size}`);
  if (!/^[0-9a-f]{64}$/i.test(spec.sha256)) throw new TypeError(`invalid sha256 ${spec.sha256}`);
  if (!/^https?:$/.test(new URL(spec.url).protocol)) throw new TypeError(`unsupported URL ${describeUrl(spec.url)}`);
  if (spec.destPath === '') throw new TypeError('empty destPath');
}

async function verifyOrDelete(
  verify: DownloadOptions['verify'],
  destPath: string,
  closeFile: () => Promise<void>,
): Promise<void> {
  if (!verify) return;
  try {
    await verify(partialPathOf(destPath));
  } catch (err) {
    await closeFile();
    await removePartial(destPath);
    if (isDownloadError(err, DownloadErrorCode.INVALID_GGUF)) throw err;
    throw new DownloadError(
      DownloadErrorCode.INVALID_GGUF,
      `the downloaded file failed verification: ${(err as Error | undefined)?.message ?? String(err)}`,
      { cause: err },
    );
  }
}
