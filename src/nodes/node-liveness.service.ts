import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { NodesService } from './nodes.service.js';

/** Marks silent nodes OFFLINE. Every replica sweeps; the update is atomic, so each transition is reported once. */
@Injectable()
export class NodeLivenessService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(NodeLivenessService.name);
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly nodes: NodesService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    const every = Math.max(
      100,
      Math.min(this.config.NODE_HEARTBEAT_INTERVAL_MS, this.config.NODE_OFFLINE_AFTER_MS / 3),
    );
    this.timer = setInterval(() => void this.sweep(), every);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  async sweep(): Promise<void> {
    try {
      const offline = await this.nodes.sweepOffline();
      for (const node of offline) this.logger.warn(`Node ${node.name} (${node.id}) missed its heartbeats: OFFLINE`);
    } catch (err) {
      this.logger.error(`Liveness sweep failed: ${(err as Error).message}`);
    }
  }
}
