import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { WorkerHost } from '@nestjs/bullmq';
import { Queue, type Worker } from 'bullmq';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { reportRedisBack, reportRedisError } from '../events/redis-client.js';

/**
 * BullMQ prints every connection error of a queue or worker that has no `error` listener as a stack trace (hundreds a
 * minute while Redis is away). Every queue and worker gets one here, which says it once per outage like our own clients.
 */
@Injectable()
export class QueueErrorsListener implements OnApplicationBootstrap {
  constructor(
    private readonly discovery: DiscoveryService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    const url = this.config.REDIS_URL;
    const onError = (err: unknown) => reportRedisError(url, err);
    const onReady = () => reportRedisBack(url);
    for (const wrapper of this.discovery.getProviders()) {
      const instance: unknown = wrapper.instance;
      if (instance instanceof Queue) {
        instance.on('error', onError);
      } else if (instance instanceof WorkerHost) {
        const worker = instance.worker as Worker;
        worker.on('error', onError);
        worker.on('ready', onReady);
      }
    }
  }
}
