import type { Logger } from 'pino';
import type { AgentModelState, StatesReportResponse } from '../shared/agent-protocol.js';

/**
 * Pushes model state changes to the control plane, which no longer follows each transfer: every lifecycle change goes
 * at once and in order (PENDING → DOWNLOADING → LOADING → READY are all seen), progress within one lifecycle at most once
 * per interval (the latest replaces the older). A failed push is retried; heartbeats carry every state anyway.
 */
export class StatePusher {
  /** Per model, the states not yet delivered: at most one per lifecycle run, in order. */
  private readonly pending = new Map<string, AgentModelState[]>();
  /** The lifecycle last delivered per model, so the next state of the same lifecycle counts as progress. */
  private readonly delivered = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private lastFlush = 0;
  private stopped = false;

  constructor(
    private readonly send: (models: AgentModelState[]) => Promise<StatesReportResponse>,
    private readonly log: Logger,
    private intervalMs = 1000,
  ) {}

  push(state: AgentModelState): void {
    if (this.stopped) return;
    const queue = this.pending.get(state.modelId);
    const last = queue?.at(-1);
    if (queue && last && last.lifecycleStatus === state.lifecycleStatus) queue[queue.length - 1] = state;
    else if (queue) queue.push(state);
    else this.pending.set(state.modelId, [state]);
    const previous = last?.lifecycleStatus ?? this.delivered.get(state.modelId);
    const transition = previous !== state.lifecycleStatus;
    // A transition goes out on the next tick (a few together); progress waits for the interval.
    this.schedule(transition ? 10 : Math.max(0, this.intervalMs - (Date.now() - this.lastFlush)));
  }

  /** The control plane may ask for a slower pace in a big fleet. */
  setInterval(ms: number): void {
    if (Number.isFinite(ms) && ms > 0) this.intervalMs = ms;
  }

  /** Forgets what is pending (the control plane will hear it from the next heartbeat). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Resolves when everything pending now has been sent (or failed to be). */
  async drain(): Promise<void> {
    while (this.flushing || (this.pending.size > 0 && !this.stopped)) {
      await (this.flushing ?? this.flush());
    }
  }

  private schedule(delayMs: number): void {
    if (this.flushing) return;
    if (this.timer) {
      if (delayMs > 10) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => void this.flush(), delayMs);
    this.timer.unref();
  }

  private flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.flushing ??= this.sendAll().finally(() => {
      this.flushing = null;
      if (this.pending.size > 0 && !this.stopped) this.schedule(this.nextDelay());
    });
    return this.flushing;
  }

  /** Sends the oldest undelivered state of every model, then the next ones, until nothing is left or a send fails. */
  private async sendAll(): Promise<void> {
    while (this.pending.size > 0 && !this.stopped) {
      const batch: AgentModelState[] = [];
      for (const [modelId, queue] of this.pending) {
        batch.push(queue[0]!);
        if (queue.length === 1) this.pending.delete(modelId);
        else queue.shift();
      }
      this.lastFlush = Date.now();
      try {
        const res = await this.send(batch);
        for (const state of batch) this.delivered.set(state.modelId, state.lifecycleStatus);
        this.setInterval(res.progressIntervalMs);
      } catch (err) {
        // Put them back, unless a newer state of the same model arrived meanwhile.
        for (const state of batch) {
          const queue = this.pending.get(state.modelId);
          if (!queue) this.pending.set(state.modelId, [state]);
          else if (queue[0]!.lifecycleStatus !== state.lifecycleStatus) queue.unshift(state);
        }
        this.log.warn({ err: (err as Error).message }, 'could not push model states; retrying');
        return;
      }
    }
  }

  private nextDelay(): number {
    const transition = [...this.pending.values()].some((q) => q.length > 1 || q[0]!.lifecycleStatus !== 'DOWNLOADING');
    return transition ? Math.min(1000, this.intervalMs) : this.intervalMs;
  }
}
