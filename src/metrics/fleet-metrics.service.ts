import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AdmissionLimiter, AdmissionObserver, Refusal } from '../graphql/admission.js';

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

  readonly admissionWait = new Histogram({
    name: 'llmfleet_graphql_admission_wait_seconds',
    help: 'How long GraphQL operations over HTTP waited for an execution slot on this replica before running (GRAPHQL_MAX_CONCURRENT)',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly admissionRefused = new Counter({
    name: 'llmfleet_graphql_admission_refused_total',
    help: 'GraphQL operations refused with 503 SERVER_BUSY on this replica, by reason (QUEUE_FULL: GRAPHQL_MAX_QUEUED; QUEUE_TIMEOUT: GRAPHQL_QUEUE_TIMEOUT_MS)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  /** What the admission limiter reports, observed into the instruments above. */
  readonly admissionObserver: AdmissionObserver = {
    admitted: (waitedMs: number) => this.admissionWait.observe(waitedMs / 1000),
    refused: (refusal: Refusal) => this.admissionRefused.inc({ reason: refusal.kind }),
  };

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    for (const reason of ['QUEUE_FULL', 'QUEUE_TIMEOUT'] as const) this.admissionRefused.inc({ reason }, 0);
  }

  /** The limiter's running and waiting operations, read at scrape time. */
  watchAdmission(limiter: AdmissionLimiter): void {
    new Gauge({
      name: 'llmfleet_graphql_operations_running',
      help: 'GraphQL operations over HTTP executing now on this replica',
      registers: [this.registry],
      collect() {
        this.set(limiter.stats.running);
      },
    });
    new Gauge({
      name: 'llmfleet_graphql_operations_waiting',
      help: 'GraphQL operations over HTTP waiting for an execution slot on this replica',
      registers: [this.registry],
      collect() {
        this.set(limiter.stats.waiting);
      },
    });
  }
}
