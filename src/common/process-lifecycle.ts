/**
 * SIGTERM and SIGINT for a long-running entrypoint, honoured at every stage: while starting (waiting for Postgres or
 * Redis, building the app) the process exits at once; once started, the registered closers run (last registered
 * first) within `graceMs`, then it exits 0. A second signal, or closers that overrun, end it at once.
 */
export class ProcessLifecycle {
  private readonly controller = new AbortController();
  private readonly closers: Array<() => Promise<void>> = [];
  private started = false;
  private stopping = false;

  constructor(
    private readonly graceMs: number,
    private readonly log: (line: string) => void = (line) => console.error(line),
  ) {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void this.stop(signal));
  }

  /** Aborted when a signal arrives: waits during start-up listen to it. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  onShutdown(closer: () => Promise<void>): void {
    this.closers.unshift(closer);
  }

  /** From now on a signal closes gracefully instead of exiting at once. */
  markStarted(): void {
    this.started = true;
  }

  private async stop(signal: NodeJS.Signals): Promise<void> {
    const code = signal === 'SIGINT' ? 130 : 143;
    if (this.stopping || !this.started) {
      this.controller.abort(new Error(`${signal} received`));
      if (!this.stopping) this.log(`${signal} received while starting; exiting`);
      process.exit(code);
    }
    this.stopping = true;
    this.controller.abort(new Error(`${signal} received`));
    const overrun = setTimeout(() => {
      this.log(`did not stop within ${this.graceMs} ms of ${signal}; exiting anyway`);
      process.exit(code);
    }, this.graceMs);
    overrun.unref();
    for (const close of this.closers) {
      try {
        await close();
      } catch (err) {
        this.log(`while stopping: ${(err as Error).message}`);
      }
    }
    clearTimeout(overrun);
    process.exit(0);
  }
}
