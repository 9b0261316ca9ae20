import { fdatasync } from 'node:fs';
import type { DownloadError } from './download.errors.js';
import { diskError } from './file-range-writer.js';

/**
 * Flushes the file to the disk while it downloads (one fdatasync at a time, started whenever `everyBytes` more were
 * written), so the sync before the rename only has the last few MiB to write, and a resume after a crash can trust
 * what the last sync covered: `onDurable` receives what `snapshot` said when that sync started.
 */
export class SyncScheduler<S> {
  private unsynced = 0;
  private running: Promise<void> | null = null;
  private failure: DownloadError | null = null;

  constructor(
    private readonly fd: number,
    private readonly everyBytes: number,
    private readonly snapshot: () => S,
    private readonly onDurable: (state: S) => Promise<void>,
  ) {}

  wrote(bytes: number): void {
    this.unsynced += bytes;
    if (this.running === null && this.unsynced >= this.everyBytes) void this.start();
  }

  /** Waits for the sync in flight, then syncs the rest; throws the first failed sync. */
  async flush(): Promise<void> {
    await this.idle();
    await this.start();
    if (this.failure) throw this.failure;
  }

  /** Resolves once no sync is in flight (the file can be closed); never rejects. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private start(): Promise<void> {
    const state = this.snapshot();
    this.unsynced = 0;
    const run = (async () => {
      try {
        await new Promise<void>((resolve, reject) => fdatasync(this.fd, (err) => (err ? reject(err) : resolve())));
        await this.onDurable(state);
      } catch (err) {
        this.failure ??= diskError(err as NodeJS.ErrnoException);
      }
    })();
    this.running = run;
    void run.then(() => {
      if (this.running === run) this.running = null;
      if (this.unsynced >= this.everyBytes && this.failure === null) void this.start();
    });
    return run;
  }
}
