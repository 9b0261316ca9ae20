import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DownloadError, DownloadErrorCode } from './download.errors.js';
import type { HashWorkerReply, HashWorkerRequest } from './sha256.protocol.js';
import { abortedError } from './shared-download.js';

/** Posting every write would cost more than it saves: the hashing thread is told in steps of this many bytes. */
const ADVANCE_STEP = 4 * 1024 * 1024;

interface Pending {
  resolve: (sha256: string) => void;
  reject: (err: Error) => void;
}

/**
 * The process's one hashing thread (sha256.worker.ts), started on first use and kept: every download and every
 * verification hashes there, never on the thread that serves sockets. If the thread dies, the files it was hashing
 * fail with IO_ERROR and the next use starts a new one.
 */
class HashThread {
  private static current: HashThread | null = null;
  private readonly worker: Worker;
  private readonly files = new Map<number, FileHasher>();
  private nextId = 1;
  private digests = 0;
  private dead = false;

  static get(): HashThread {
    if (HashThread.current === null || HashThread.current.dead) HashThread.current = new HashThread();
    return HashThread.current;
  }

  private constructor() {
    // A small heap: the thread holds a 1 MiB read buffer and a hash state per file.
    this.worker = new Worker(hashWorkerScript(), {
      resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 16 },
    });
    this.worker.unref();
    this.worker.on('message', (reply: HashWorkerReply) => this.files.get(reply.id)?.onReply(reply));
    const die = (why: string): void => {
      if (this.dead) return;
      this.dead = true;
      const error = new DownloadError(DownloadErrorCode.IO_ERROR, `the hashing thread stopped: ${why}`);
      for (const file of this.files.values()) file.fail(error);
      this.files.clear();
    };
    this.worker.on('error', (err) => die(err.message));
    this.worker.on('exit', (code) => die(`exit code ${code}`));
  }

  open(file: FileHasher, path: string): number {
    const id = this.nextId++;
    this.files.set(id, file);
    this.post({ kind: 'open', id, path });
    return id;
  }

  close(id: number): void {
    if (this.files.delete(id)) this.post({ kind: 'close', id });
  }

  post(request: HashWorkerRequest): void {
    if (!this.dead) this.worker.postMessage(request);
  }

  /** A pending digest keeps the process alive; an idle hashing thread never does. */
  holdOpen(delta: 1 | -1): void {
    this.digests += delta;
    if (this.digests > 0) this.worker.ref();
    else this.worker.unref();
  }

  get alive(): boolean {
    return !this.dead;
  }
}

/**
 * sha256 of one file, in order from byte 0, computed on the hashing thread from what the downloader wrote: the
 * socket-reading thread only says how far the file is complete (`advance`), and `digest` waits for the rest.
 */
export class FileHasher {
  private readonly thread = HashThread.get();
  private readonly id: number;
  private told = 0;
  private failure: DownloadError | null = null;
  private pending: Pending | null = null;

  constructor(path: string) {
    this.id = this.thread.open(this, path);
  }

  /** Bytes `[0, upTo)` of the file are written. */
  advance(upTo: number, force = false): void {
    if (upTo <= this.told || (!force && upTo - this.told < ADVANCE_STEP)) return;
    this.told = upTo;
    this.thread.post({ kind: 'advance', id: this.id, upTo });
  }

  /** The file was truncated to zero bytes. */
  reset(): void {
    this.told = 0;
    this.thread.post({ kind: 'reset', id: this.id });
  }

  /** The sha256 (lowercase hex) of the first `length` bytes, once the thread has caught up. */
  digest(length: number, signal?: AbortSignal): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    if (!this.thread.alive) return Promise.reject(new DownloadError(DownloadErrorCode.IO_ERROR, 'no hashing thread'));
    return new Promise<string>((resolvePromise, reject) => {
      const settle = (): void => {
        signal?.removeEventListener('abort', onAbort);
        this.pending = null;
        this.thread.holdOpen(-1);
      };
      const onAbort = (): void => {
        settle();
        reject(abortedError(signal?.reason));
      };
      if (signal?.aborted) return reject(abortedError(signal.reason));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.thread.holdOpen(1);
      this.pending = {
        resolve: (sha256) => {
          settle();
          resolvePromise(sha256);
        },
        reject: (err) => {
          settle();
          reject(err);
        },
      };
      this.told = Math.max(this.told, length);
      this.thread.post({ kind: 'digest', id: this.id, length });
    });
  }

  /** Forgets the file (a hash in progress is dropped). */
  close(): void {
    this.thread.close(this.id);
  }

  /** @internal From the hashing thread. */
  onReply(reply: HashWorkerReply): void {
    switch (reply.kind) {
      case 'digest':
        this.pending?.resolve(reply.sha256);
        return;
      case 'error':
        this.fail(
          new DownloadError(
            DownloadErrorCode.IO_ERROR,
            `reading the file back for its sha256 failed: ${reply.message}`,
            {
              details: { errno: reply.code },
            },
          ),
        );
        return;
    }
  }

  /** @internal */
  fail(err: DownloadError): void {
    this.failure ??= err;
    this.pending?.reject(err);
  }
}

/** Starts the hashing thread now rather than at the first download (the agent does at start). */
export function startHashThread(): void {
  HashThread.get();
}

/** sha256 of a file's first `length` bytes (default: all of it), hashed off this thread. */
export async function sha256OfFile(path: string, length?: number, signal?: AbortSignal): Promise<string> {
  const size = length ?? (await stat(path)).size;
  const hasher = new FileHasher(path);
  try {
    return await hasher.digest(size, signal);
  } finally {
    hasher.close();
  }
}

/**
 * The worker script: the sibling `sha256.worker.js` when running compiled; under jest (TypeScript sources) the one
 * `npm run build` put in dist/, since a worker thread cannot run the .ts file.
 */
export function hashWorkerScript(moduleUrl: string = import.meta.url): string {
  const here = fileURLToPath(moduleUrl);
  const script = here.endsWith('.ts')
    ? join(resolve(dirname(here), '../../..'), 'dist/src/agent/download/sha256.worker.js')
    : join(dirname(here), 'sha256.worker.js');
  if (!existsSync(script)) throw new Error(`sha256 worker script not found at ${script}: run \`npm run build\` first`);
  return script;
}
