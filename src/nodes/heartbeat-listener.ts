import { Worker } from 'node:worker_threads';
import type { INestApplication } from '@nestjs/common';
import { Logger } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import type { HeartbeatRequest } from '../shared/agent-protocol.js';
import type { HeartbeatTiming } from '../shared/heartbeat-timing.js';
import { NodesService } from './nodes.service.js';

/** What the listener's thread starts with. */
export interface ListenerInit {
  databaseUrl: string;
  host: string;
  port: number;
  timing: HeartbeatTiming;
  progressIntervalMs: number;
}

export type ToListener =
  { kind: 'progress'; progressIntervalMs: number } | { kind: 'main-port'; port: number } | { kind: 'stop' };

/** A heartbeat the thread recorded: the rest of its work, for the main thread. */
export interface HeartbeatFromThread {
  kind: 'recorded';
  nodeId: string;
  tokenHash: string;
  heartbeat: HeartbeatRequest;
  previous: string;
  previousAt: number;
  at: number;
}

/** Applies a recorded heartbeat's model states (AgentProtocolController, which owns that path). */
export type StatesSink = (nodeId: string, heartbeat: HeartbeatRequest) => Promise<void>;

/** Where agents send heartbeats when the listener runs (read by the register and heartbeat answers). */
const running: { port: number | null; publicUrl: string | null } = { port: null, publicUrl: null };

/**
 * The URL of the heartbeat listener for an agent that reached this control plane at `host` (its Host header), or
 * undefined when there is none (heartbeats then go to the main port, as every other call).
 */
export function heartbeatUrlFor(host: string | undefined): string | undefined {
  if (running.port === null) return undefined;
  if (running.publicUrl) return running.publicUrl;
  if (!host) return undefined;
  const hostname = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  return `http://${hostname}:${running.port}`;
}

/**
 * NODE_HEARTBEAT_PORT: heartbeats on a thread of their own (heartbeat-listener.worker.ts), so that liveness and its
 * latency never depend on the main thread's event loop being free. Off by default: one port, heartbeats on it.
 */
export class HeartbeatListener {
  private readonly logger = new Logger(HeartbeatListener.name);
  private progressTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly worker: Worker,
    readonly port: number,
  ) {}

  static async start(
    app: INestApplication,
    config: AppConfig,
    mainPort: number,
    states: StatesSink,
  ): Promise<HeartbeatListener> {
    const nodes = app.get(NodesService);
    const init: ListenerInit = {
      databaseUrl: config.DATABASE_URL,
      host: config.HOST,
      port: config.NODE_HEARTBEAT_PORT ?? 0,
      timing: nodes.timing,
      progressIntervalMs: nodes.progressIntervalMs,
    };
    const worker = new Worker(new URL('./heartbeat-listener.worker.js', import.meta.url), { workerData: init });
    const port = await new Promise<number>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', (m: { kind: string; port: number }) =>
        m.kind === 'listening' ? resolve(m.port) : undefined,
      );
    });
    const listener = new HeartbeatListener(worker, port);
    running.port = port;
    running.publicUrl = config.NODE_HEARTBEAT_PUBLIC_URL ?? null;
    worker.postMessage({ kind: 'main-port', port: mainPort } satisfies ToListener);
    worker.on('message', (m: HeartbeatFromThread) => {
      if (m.kind !== 'recorded') return;
      nodes
        .afterRecordedHeartbeat(m.nodeId, m.tokenHash, m.heartbeat, m.previous, m.previousAt, m.at)
        .then(() => states(m.nodeId, m.heartbeat))
        .catch((err: unknown) => listener.logger.error(`Heartbeat of node ${m.nodeId}: ${String(err)}`));
    });
    worker.on('error', (err) => listener.logger.error(`Heartbeat listener thread failed: ${err.message}`));
    listener.progressTimer = setInterval(
      () => worker.postMessage({ kind: 'progress', progressIntervalMs: nodes.progressIntervalMs } satisfies ToListener),
      1000,
    );
    listener.progressTimer.unref();
    return listener;
  }

  async stop(): Promise<void> {
    clearInterval(this.progressTimer);
    running.port = null;
    const exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.worker.postMessage({ kind: 'stop' } satisfies ToListener);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    await this.worker.terminate();
  }
}
