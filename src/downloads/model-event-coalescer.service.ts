import { Inject, Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import type { NodeModelStateEntity } from '../nodes/entities/node-model-state.entity.js';
import { RegistryService } from '../registry/registry.service.js';

interface ModelStream {
  /** Progress written since this model's last event, the latest per node: what the next event carries. */
  waiting: Map<string, NodeModelStateEntity>;
  lastEvent: number;
  lastProgress: number;
  /** Some state of the model changed since its last fleetProgressChanged. */
  progressDirty: boolean;
  timer: NodeJS.Timeout | null;
}

/**
 * Turns node × model writes into model events at a rate that does not grow with the fleet. A lifecycle transition is
 * published at once, one event each (clients wait on them); progress alone is held and published at most once per
 * MODEL_EVENT_INTERVAL_MS per model, as one event carrying the latest state of every node that moved (`states`).
 * fleetProgressChanged follows the same pace. Each event reads its model (and progress) when it is sent, from the
 * maintained aggregates: O(1) whatever the number of nodes. `seq` is taken when an event is published, so a
 * coalesced stream has no gaps.
 */
@Injectable()
export class ModelEventCoalescer implements BeforeApplicationShutdown {
  private readonly logger = new Logger(ModelEventCoalescer.name);
  private readonly streams = new Map<string, ModelStream>();
  private readonly intervalMs: number;

  constructor(
    private readonly registry: RegistryService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.intervalMs = config.MODEL_EVENT_INTERVAL_MS;
  }

  /** Written states: `transitions` changed lifecycle (published now), `progress` only moved (coalesced). */
  async publish(
    transitions: readonly NodeModelStateEntity[],
    progress: readonly NodeModelStateEntity[],
  ): Promise<void> {
    const now = Date.now();
    for (const state of progress) {
      const stream = this.stream(state.modelId);
      const held = stream.waiting.get(state.nodeId);
      if (!held || !(held.revision > state.revision)) stream.waiting.set(state.nodeId, state);
      stream.progressDirty = true;
    }
    for (const state of transitions) {
      const stream = this.stream(state.modelId);
      // The transition's state is newer than the progress held for that node: it replaces it.
      const held = stream.waiting.get(state.nodeId);
      if (held && !(held.revision > state.revision)) stream.waiting.delete(state.nodeId);
      stream.progressDirty = true;
    }
    const due = new Set(transitions.map((s) => s.modelId));
    for (const modelId of new Set(progress.map((s) => s.modelId))) {
      if (due.has(modelId)) continue;
      if (now - this.stream(modelId).lastEvent >= this.intervalMs) due.add(modelId);
    }
    const progressDue = [...new Set([...transitions, ...progress].map((s) => s.modelId))].filter(
      (id) => now - this.stream(id).lastProgress >= this.intervalMs,
    );
    await this.send([...due], transitions, progressDue);
    for (const modelId of new Set([...transitions, ...progress].map((s) => s.modelId))) this.schedule(modelId);
  }

  /** States of these models changed and were announced elsewhere (a rollout's batch): their progress follows. */
  touched(modelIds: Iterable<string>): void {
    for (const modelId of modelIds) {
      this.stream(modelId).progressDirty = true;
      this.schedule(modelId);
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    const pending = [...this.streams.entries()].filter(([, s]) => s.waiting.size > 0 || s.progressDirty);
    for (const [, stream] of pending) this.clearTimer(stream);
    await this.send(
      pending.filter(([, s]) => s.waiting.size > 0).map(([id]) => id),
      [],
      pending.filter(([, s]) => s.progressDirty).map(([id]) => id),
    );
  }

  /** A model's stream (kept while the process lives: one small entry per model ever changed, for its pace). */
  private stream(modelId: string): ModelStream {
    let stream = this.streams.get(modelId);
    if (!stream) {
      stream = { waiting: new Map(), lastEvent: 0, lastProgress: 0, progressDirty: false, timer: null };
      this.streams.set(modelId, stream);
    }
    return stream;
  }

  /** What is still held for a model goes out when its interval is over. */
  private schedule(modelId: string): void {
    const stream = this.streams.get(modelId);
    if (!stream || stream.timer || (stream.waiting.size === 0 && !stream.progressDirty)) return;
    const at = Math.min(
      stream.waiting.size > 0 ? stream.lastEvent + this.intervalMs : Infinity,
      stream.progressDirty ? stream.lastProgress + this.intervalMs : Infinity,
    );
    stream.timer = setTimeout(
      () => {
        stream.timer = null;
        const now = Date.now();
        const events = stream.waiting.size > 0 && now - stream.lastEvent >= this.intervalMs ? [modelId] : [];
        const progress = stream.progressDirty && now - stream.lastProgress >= this.intervalMs ? [modelId] : [];
        this.send(events, [], progress)
          .catch((err: unknown) => this.logger.error(`Could not publish model ${modelId}: ${(err as Error).message}`))
          .finally(() => this.schedule(modelId));
      },
      Math.max(0, at - Date.now()),
    );
    // Held progress is not worth keeping a stopping process alive for.
    stream.timer.unref();
  }

  /**
   * One event per transition (the first also carrying the model's held progress), or one event with the held progress
   * for a model without transitions; then fleetProgressChanged for `progressIds`. The models are read once, now.
   */
  private async send(
    modelIds: readonly string[],
    transitions: readonly NodeModelStateEntity[],
    progressIds: readonly string[],
  ): Promise<void> {
    const now = Date.now();
    const batches = modelIds.map((modelId) => {
      const stream = this.stream(modelId);
      const held = [...stream.waiting.values()];
      stream.waiting.clear();
      stream.lastEvent = now;
      return { modelId, held, transitions: transitions.filter((t) => t.modelId === modelId) };
    });
    for (const id of progressIds) {
      const stream = this.stream(id);
      stream.lastProgress = now;
      stream.progressDirty = false;
    }
    if (batches.length > 0) {
      const views = await this.registry.findMany(batches.map((b) => b.modelId));
      for (const [i, batch] of batches.entries()) {
        const view = views[i];
        if (!view) continue;
        if (batch.transitions.length === 0) {
          if (batch.held.length > 0) await this.registry.publishChange(view, batch.held.at(-1)!, batch.held);
          continue;
        }
        // Issued together, in order (one Redis connection keeps it): a rollout's group holds hundreds.
        await Promise.all(
          batch.transitions.map((transition, j) =>
            this.registry.publishChange(view, transition, j === 0 ? [...batch.held, transition] : [transition]),
          ),
        );
      }
    }
    await this.registry.publishProgress(progressIds);
  }

  private clearTimer(stream: ModelStream): void {
    if (stream.timer) clearTimeout(stream.timer);
    stream.timer = null;
  }
}
