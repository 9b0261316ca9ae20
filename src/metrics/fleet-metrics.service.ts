import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/**
 * This replica's Prometheus registry and the instruments other modules observe into: the process's own figures
 * (CPU, memory, event loop lag, GC), heartbeat gaps as this replica receives them, GraphQL request durations. One
 * registry per application (never prom-client's global one), so several apps in one process never collide.
 */
@Injectable()
export class FleetMetrics {
  readonly registry = new Registry();

  /** Time since a node's previous heartbeat (received by any replica), observed when this replica receives the next. */
  readonly heartbeatGap = new Histogram({
    name: 'llmfleet_heartbeat_gap_seconds',
    help: 'Time between a node’s previous heartbeat and the one this replica just received',
    buckets: [0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120],
    registers: [this.registry],
  });

  readonly graphqlDuration = new Histogram({
    name: 'llmfleet_graphql_request_duration_seconds',
    help: 'GraphQL requests Apollo answers over HTTP on this replica (not those served from the models query cache), by operation type',
    labelNames: ['operation'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
