import { Worker } from 'node:worker_threads';

export interface FileHubOptions {
  /** `org/name` of the one repo. */
  repo: string;
  /** Name of its one file (a `.gguf`: stored in LFS, so a resolve answers 302 to the CDN). */
  file: string;
  sizeBytes: number;
  /** `gguf`: a valid GGUF file, then filler up to the size (what a real agent accepts); default: random-looking bytes. */
  content?: 'random' | 'gguf';
}

export type FileHubCommand =
  | { kind: 'requests'; since: number }
  | { kind: 'throttle'; bytesPerSecond: number | null }
  | { kind: 'bytes'; reset: boolean }
  | { kind: 'stop' };

/** One Hub request as the log keeps it. */
export interface FileHubRequest {
  route: string;
  status: number;
  range: string | null;
}

export type FileHubReply =
  | {
      kind: 'started';
      url: string;
      /** The commit the file is pinned to. */
      sha: string;
      size: number;
      sha256: string;
      /** Generating the bytes, then the Hub hashing them (FakeHub computes the sha256 it announces). */
      generateMs: number;
      addMs: number;
    }
  | { kind: 'requests'; requests: FileHubRequest[]; length: number }
  | { kind: 'throttle' }
  | { kind: 'bytes'; bytesSent: number }
  | { kind: 'stop' }
  | { kind: 'failed'; error: string };

type Kind = FileHubReply['kind'];

/**
 * The local Hub (FakeHub) serving one large file from memory, in a worker thread: serving the bytes never shares an
 * event loop with the downloader being measured, as a remote Hub's would not.
 */
export class FileHub {
  private constructor(
    private readonly worker: Worker,
    readonly url: string,
    readonly sha: string,
    readonly size: number,
    readonly sha256: string,
    readonly generateMs: number,
    readonly addMs: number,
  ) {}

  static async start(options: FileHubOptions): Promise<FileHub> {
    const worker = new Worker(new URL('./file-hub.worker.js', import.meta.url), { workerData: options });
    const r = await next(worker, 'started');
    return new FileHub(worker, r.url, r.sha, r.size, r.sha256, r.generateMs, r.addMs);
  }

  /** Length of the Hub's request log: pass it to requests() to see what came after. */
  async mark(): Promise<number> {
    return (await this.call({ kind: 'requests', since: Number.MAX_SAFE_INTEGER }, 'requests')).length;
  }

  async requests(since: number): Promise<FileHubRequest[]> {
    return (await this.call({ kind: 'requests', since }, 'requests')).requests;
  }

  /** Caps each connection's body at this rate (as a CDN caps each stream); null lifts it. */
  async throttle(bytesPerSecond: number | null): Promise<void> {
    await this.call({ kind: 'throttle', bytesPerSecond }, 'throttle');
  }

  /** File body bytes the Hub sent since the last reset (`reset`: start counting again from now). */
  async bytesSent(reset = false): Promise<number> {
    return (await this.call({ kind: 'bytes', reset }, 'bytes')).bytesSent;
  }

  /** Stops the Hub and ends the thread (its memory goes with it). */
  async stop(): Promise<void> {
    await this.call({ kind: 'stop' }, 'stop');
    await this.worker.terminate();
  }

  private call<K extends Kind>(command: FileHubCommand, kind: K): Promise<Extract<FileHubReply, { kind: K }>> {
    const reply = next(this.worker, kind);
    this.worker.postMessage(command);
    return reply;
  }
}

function next<K extends Kind>(worker: Worker, kind: K): Promise<Extract<FileHubReply, { kind: K }>> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    worker.once('error', onError);
    worker.once('message', (reply: FileHubReply) => {
      worker.off('error', onError);
      if (reply.kind === 'failed') reject(new Error(`file hub thread: ${reply.error}`));
      else if (reply.kind !== kind) reject(new Error(`file hub thread answered ${reply.kind}, expected ${kind}`));
      else resolve(reply as Extract<FileHubReply, { kind: K }>);
    });
  });
}
