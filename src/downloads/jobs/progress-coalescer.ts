/**
 * Passes on at most one value per interval (the latest), but a change of `kind` (a lifecycle transition) at once,
 * so subscribers see a few progress events a second and every transition, never one per chunk.
 */
export class ProgressCoalescer<T> {
  private pending: T | null = null;
  private lastSent = 0;
  private lastKind: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly intervalMs: number,
    private readonly send: (value: T) => Promise<void>,
  ) {}

  async push(value: T, kind: string): Promise<void> {
    const now = Date.now();
    if (kind !== this.lastKind || now - this.lastSent >= this.intervalMs) {
      this.lastKind = kind;
      this.clearTimer();
      this.pending = null;
      return this.emit(value);
    }
    this.pending = value;
    this.timer ??= setTimeout(() => void this.flush(), this.intervalMs - (now - this.lastSent));
  }

  async flush(): Promise<void> {
    this.clearTimer();
    const value = this.pending;
    this.pending = null;
    if (value !== null) await this.emit(value);
    await this.chain;
  }

  private emit(value: T): Promise<void> {
    this.lastSent = Date.now();
    this.chain = this.chain.then(() => this.send(value)).catch(() => undefined);
    return this.chain;
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
