/**
 * A fixed set of equal buffers the socket reads into (http-wire.ts) and given back once they are on disk. No buffer
 * is allocated per socket read, and the blocks live as long as the transfer: what a download holds in memory is this
 * pool, whatever the rate.
 */
export class BlockPool {
  private readonly free: Buffer[] = [];
  private waiters: (() => void)[] = [];

  constructor(
    readonly blockSize: number,
    count: number,
  ) {
    for (let i = 0; i < count; i += 1) this.free.push(Buffer.allocUnsafeSlow(blockSize));
  }

  take(): Buffer | null {
    return this.free.pop() ?? null;
  }

  give(block: Buffer): void {
    this.free.push(block);
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves when a block may be free (take() again: another writer may have been quicker). */
  available(): Promise<void> {
    if (this.free.length > 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
