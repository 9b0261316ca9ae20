import { Global, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { NodesModule } from '../nodes/nodes.module.js';
import { RegistryModule } from '../registry/registry.module.js';
import { RepairModule } from '../repair/repair.module.js';
import { FleetMetrics } from './fleet-metrics.service.js';
import { GraphqlMetricsPlugin } from './graphql-metrics.plugin.js';
import { MetricsController } from './metrics.controller.js';

/** Prometheus `/metrics`; global so that any module can observe into FleetMetrics without importing this one. */
@Global()
@Module({
  imports: [DiscoveryModule, NodesModule, RegistryModule, RepairModule],
  controllers: [MetricsController],
  providers: [FleetMetrics, GraphqlMetricsPlugin],
  exports: [FleetMetrics],
})
export class MetricsModule {}
