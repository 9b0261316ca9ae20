/**
 * Runs `flush` one batch at a time and groups what arrives while a batch runs into the next one (as a database groups
 * commits): under load, many callers share one flush — a few queries for a hundred agents' reports instead of a few
 * each — and alone, a caller waits for no timer. Each caller's promise settles with the flush that carried its items.
 */
export class Grouped<T> {
  private next: { items: T[]; done: Promise<void> } | null = null;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly flush: (items: T[]) => Promise<void>) {}

  add(items: readonly T[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    if (!this.next) {
      const group: { items: T[]; done: Promise<void> } = { items: [], done: Promise.resolve() };
      group.done = this.running.then(() => {
        if (this.next === group) this.next = null;
        return this.flush(group.items);
      });
      this.running = group.done.catch(() => undefined);
      this.next = group;
    }
    this.next.items.push(...items);
    return this.next.done;
  }

  /** Settles once everything added so far has been flushed. */
  async idle(): Promise<void> {
    for (let last = this.running; ; last = this.running) {
      await last;
      if (last === this.running) return;
    }
  }
}
