import { Module } from '@nestjs/common';
import { APP_INTERCEPTOR, DiscoveryModule } from '@nestjs/core';
import { DependencyErrorsInterceptor } from './dependency-errors.interceptor.js';
import { HealthController } from './health.controller.js';
import { QueueErrorsListener } from './queue-errors.listener.js';

@Module({
  imports: [DiscoveryModule],
  controllers: [HealthController],
  providers: [{ provide: APP_INTERCEPTOR, useClass: DependencyErrorsInterceptor }, QueueErrorsListener],
})
export class HealthModule {}
