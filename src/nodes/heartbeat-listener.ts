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

/** The thread's first word: listening, or why not. */
export type ListenerStarted = { kind: 'listening'; port: number } | { kind: 'failed'; code?: string; message: string };

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

/** How an agent's request reached this control plane: its Host header, and whether a proxy passed it on. */
export interface ArrivedVia {
  host: string | undefined;
  /** Forwarded, X-Forwarded-For, -Host or -Proto present: the agent speaks to a proxy, not to this process. */
  proxied: boolean;
}

export function arrivedVia(headers: Record<string, string | string[] | undefined>): ArrivedVia {
  const host = headers.host;
  return {
    host: typeof host === 'string' ? host : undefined,
    proxied: ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto'].some(
      (h) => headers[h] !== undefined,
    ),
  };
}

/**
 * The URL of the heartbeat listener for an agent that reached this control plane as `via` says, or undefined when
 * there is none for it (heartbeats then go to the main port, as every other call). An agent that came through a
 * proxy is named the listener only by NODE_HEARTBEAT_PUBLIC_URL: the listener's port is not the proxy's, and the
 * agent may speak TLS to the proxy, which a plain-HTTP URL at its host would give up.
 */
export function heartbeatUrlFor(via: ArrivedVia): string | undefined {
  if (running.port === null) return undefined;
  if (running.publicUrl) return running.publicUrl;
  if (!via.host || via.proxied) return undefined;
  const host = via.host;
  const hostname = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  return `http://${hostname}:${running.port}`;
}

/** The listener's port is taken (NODE_HEARTBEAT_PORT, by default PORT + 1): said in one line, and the process stops. */
export class HeartbeatPortInUseError extends Error {
  constructor(port: number, explicit: boolean) {
    super(
      `Port ${port} is in use: the heartbeat listener needs it (NODE_HEARTBEAT_PORT${explicit ? '' : ', by default PORT + 1'}). ` +
        'Set NODE_HEARTBEAT_PORT to a free port, or to "off" to take heartbeats on PORT.',
    );
    this.name = 'HeartbeatPortInUseError';
  }
}

/**
 * NODE_HEARTBEAT_PORT: heartbeats on a thread of their own (heartbeat-listener.worker.ts), so that liveness and its
 * latency never depend on the main thread's event loop being free. On by default, at PORT + 1; `off`: one port.
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
    listenerPort: number,
    mainPort: number,
    states: StatesSink,
  ): Promise<HeartbeatListener> {
    const nodes = app.get(NodesService);
    const init: ListenerInit = {
      databaseUrl: config.DATABASE_URL,
      host: config.HOST,
      port: listenerPort,
      timing: nodes.timing,
      progressIntervalMs: nodes.progressIntervalMs,
    };
    const worker = new Worker(new URL('./heartbeat-listener.worker.js', import.meta.url), { workerData: init });
    const port = await new Promise<number>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', (m: ListenerStarted) => {
        if (m.kind === 'listening') return resolve(m.port);
        void worker.terminate();
        reject(
          m.code === 'EADDRINUSE'
            ? new HeartbeatPortInUseError(listenerPort, config.NODE_HEARTBEAT_PORT !== undefined)
            : new Error(`The heartbeat listener could not listen on port ${listenerPort}: ${m.message}`),
        );
      });
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
