/** FIFO mutual exclusion: each task starts once every task queued before it has settled. */
export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;

  /** Tasks running or waiting. */
  get size(): number {
    return this.pending;
  }

  run<T>(task: () => Promise<T>): Promise<T> {
    this.pending += 1;
    const result = this.tail.then(task);
    const settle = (): void => {
      this.pending -= 1;
    };
    this.tail = result.then(settle, settle);
    return result;
  }
}
