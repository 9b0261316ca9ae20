import { Controller, Get, Header } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { Queue } from 'bullmq';
import { Gauge } from 'prom-client';
import { ApiKeyRole, RequireRole } from '../auth/require-role.decorator.js';
import { NodesService } from '../nodes/nodes.service.js';
import { RegistryService } from '../registry/registry.service.js';
import { RepairService } from '../repair/repair.service.js';
import { FleetMetrics } from './fleet-metrics.service.js';

const QUEUE_STATES = [
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'waiting-children',
  'failed',
  'completed',
] as const;

/**
 * Prometheus scrape endpoint (text format), for a VIEWER key (`Authorization: Bearer <key>`). Process figures are this
 * replica's own; fleet figures are read from Postgres and Redis at scrape time (a few cheap queries), so every replica
 * answers the same fleet figures.
 */
@Controller('metrics')
@RequireRole(ApiKeyRole.VIEWER)
export class MetricsController {
  private readonly nodesByStatus: Gauge<'status'>;
  private readonly modelsByStatus: Gauge<'status'>;
  private readonly downloadsInFlight: Gauge<'lifecycle'>;
  private readonly downloadRate: Gauge;
  private readonly repairsByStatus: Gauge<'status'>;
  private readonly queueJobs: Gauge<'queue' | 'state'>;

  constructor(
    private readonly metrics: FleetMetrics,
    private readonly nodes: NodesService,
    private readonly registry: RegistryService,
    private readonly repairs: RepairService,
    private readonly discovery: DiscoveryService,
  ) {
    const registers = [metrics.registry];
    this.nodesByStatus = new Gauge({
      name: 'llmfleet_nodes',
      help: 'Nodes by status',
      labelNames: ['status'],
      registers,
    });
    this.modelsByStatus = new Gauge({
      name: 'llmfleet_models',
      help: 'Catalog and registered models by status',
      labelNames: ['status'],
      registers,
    });
    this.downloadsInFlight = new Gauge({
      name: 'llmfleet_downloads_in_flight',
      help: 'Node × model downloads on their way, by lifecycle (PENDING, DOWNLOADING, LOADING)',
      labelNames: ['lifecycle'],
      registers,
    });
    this.downloadRate = new Gauge({
      name: 'llmfleet_download_bytes_per_second',
      help: 'Summed transfer rate of every download in progress across the fleet',
      registers,
    });
    this.repairsByStatus = new Gauge({
      name: 'llmfleet_repairs',
      help: 'Repair tasks by status',
      labelNames: ['status'],
      registers,
    });
    this.queueJobs = new Gauge({
      name: 'llmfleet_queue_jobs',
      help: 'BullMQ jobs by queue and state',
      labelNames: ['queue', 'state'],
      registers,
    });
  }

  @Get()
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  async scrape(): Promise<string> {
    const [nodes, models, downloads, repairs, queues] = await Promise.all([
      this.nodes.countByStatus(),
      this.registry.statusCounts(),
      this.registry.downloadTotals(),
      this.repairs.countByStatus(),
      this.queueCounts(),
    ]);
    for (const [status, n] of nodes) this.nodesByStatus.set({ status }, n);
    for (const [status, n] of models) this.modelsByStatus.set({ status }, n);
    this.downloadsInFlight.set({ lifecycle: 'PENDING' }, downloads.pending);
    this.downloadsInFlight.set({ lifecycle: 'DOWNLOADING' }, downloads.downloading);
    this.downloadsInFlight.set({ lifecycle: 'LOADING' }, downloads.loading);
    this.downloadRate.set(downloads.bytesPerSecond);
    for (const [status, n] of repairs) this.repairsByStatus.set({ status }, n);
    for (const { queue, counts } of queues) {
      for (const state of QUEUE_STATES) this.queueJobs.set({ queue, state }, counts[state] ?? 0);
    }
    return this.metrics.registry.metrics();
  }

  /** Every BullMQ queue this process knows, with its job counts (one Redis round trip each). */
  private async queueCounts(): Promise<Array<{ queue: string; counts: Record<string, number> }>> {
    const queues = this.discovery
      .getProviders()
      .map((w): unknown => w.instance)
      .filter((i): i is Queue => i instanceof Queue);
    const unique = [...new Map(queues.map((q) => [q.name, q])).values()];
    return Promise.all(unique.map(async (q) => ({ queue: q.name, counts: await q.getJobCounts(...QUEUE_STATES) })));
  }
}
