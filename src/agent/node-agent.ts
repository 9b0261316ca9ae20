import type { Logger } from 'pino';
import type { AgentConfig } from './agent-config.js';
import { totalmem } from 'node:os';
import type { FailureReport, HeartbeatResponse, RegisterNodeResponse } from '../shared/agent-protocol.js';
import { heartbeatRetryMs } from '../shared/heartbeat-timing.js';
import { AgentHttpServer } from './agent-http.server.js';
import { ChatHandler } from './chat.handler.js';
import { InferenceService } from './inference/inference.service.js';
import { RepairCoordinator } from './repair-coordinator.js';
import { ControlPlaneClient, ControlPlaneError } from './control-plane.client.js';
import { FileDownloader } from './download/file-downloader.js';
import { startHashThread } from './download/file-hasher.js';
import { MetricsCollector } from './metrics.collector.js';
import { ModelManager } from './model-manager.js';
import { ModelStore } from './model-store.js';
import { PeerFileServer } from './peer-file.server.js';
import { ControlPlanePeerSources } from './peer-sources.js';
import { StatePusher } from './state-pusher.js';

/**
 * How long heartbeats stay on the control plane's own URL after one to its heartbeat listener failed, before the
 * listener is tried again (a firewalled NODE_HEARTBEAT_PORT then costs one heartbeat timeout per 5 minutes).
 */
export const LISTENER_RETRY_AFTER_MS = 5 * 60_000;

/**
 * One node: serves the agent protocol, rescans MODELS_DIR (resuming unfinished downloads), registers with the
 * control plane and heartbeats its metrics and models. Survives either side restarting: it simply registers again.
 */
export class NodeAgent {
  readonly store: ModelStore;
  readonly models: ModelManager;
  readonly metrics: MetricsCollector;
  readonly repairs: RepairCoordinator;
  readonly inference: InferenceService;
  readonly peerFiles: PeerFileServer;
  private readonly controlPlane: ControlPlaneClient;
  private readonly http: AgentHttpServer;
  private readonly pusher: StatePusher;
  private timer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  /** Found broken by the start-up quick checks; reported once the control plane knows us. */
  private startupFailures: FailureReport[] = [];
  private heartbeatMs = 5000;
  /** From the control plane's answers (shared/heartbeat-timing.ts); the older rule while it says nothing. */
  private heartbeatTimeoutMs: number | null = null;
  private heartbeatRetryMs: number | null = null;
  /** The control plane's heartbeat listener (heartbeatUrl), when it names one. */
  private heartbeatUrl: string | null = null;
  /** When a heartbeat to the listener last failed: the control plane's own URL serves them for a while after. */
  private listenerFailedAt: number | null = null;
  private stopped = false;
  private registered = false;
  url = '';

  constructor(
    private readonly config: AgentConfig,
    private readonly log: Logger,
    /** The embedded agent asks its control plane in-process for the join token (which may be rotated meanwhile). */
    joinToken?: () => Promise<string>,
  ) {
    this.store = new ModelStore(config.MODELS_DIR);
    this.models = new ModelManager(
      this.store,
      new FileDownloader({
        connections: config.AGENT_DOWNLOAD_CONNECTIONS,
        chunkBytes: config.AGENT_DOWNLOAD_CHUNK_BYTES,
      }),
      {
        hfToken: config.HF_TOKEN,
        gpu: config.AGENT_GPU === 'auto' ? 'auto' : false,
        verifyLoad: config.AGENT_VERIFY_LOAD,
        stallTimeoutMs: config.AGENT_STALL_TIMEOUT_MS,
        sources: (modelId, file) => new ControlPlanePeerSources(this.controlPlane, modelId, file, log),
        minPeerBytesPerSecond: config.AGENT_PEER_MIN_BYTES_PER_SECOND,
      },
      log,
    );
    this.metrics = new MetricsCollector(config.AGENT_MEMORY_BYTES, () => this.inference.vram());
    this.controlPlane = new ControlPlaneClient(
      config.CONTROL_PLANE_URL,
      this.store.root,
      joinToken ?? config.NODE_JOIN_TOKEN,
      log,
    );
    this.inference = new InferenceService({
      gpu: config.AGENT_GPU === 'auto' ? 'auto' : false,
      memoryBudgetBytes: config.AGENT_MEMORY_BYTES ?? Math.floor(totalmem() * 0.8),
      log,
    });
    this.repairs = new RepairCoordinator(
      this.models,
      this.controlPlane,
      (modelId) => this.inference.unload(modelId),
      log,
      config.AGENT_REPAIR_RETRY_MS,
    );
    this.peerFiles = new PeerFileServer(
      this.models,
      this.store,
      () => {
        const nodeId = this.controlPlane.nodeId;
        const controlTokenHash = this.controlPlane.controlTokenHash;
        return nodeId && controlTokenHash ? { nodeId, controlTokenHash } : null;
      },
      (modelId) => this.repairs.availability(modelId).kind !== 'AVAILABLE',
      config.AGENT_PEER_UPLOAD_BYTES_PER_SECOND,
      log,
    );
    const chat = new ChatHandler(this.models, this.repairs, this.inference, this.metrics);
    this.http = new AgentHttpServer(
      this.models,
      this.repairs,
      chat,
      this.peerFiles,
      () => this.controlPlane.controlTokenHash,
      log,
      config.V1_BODY_LIMIT,
    );
    this.pusher = new StatePusher((models) => this.controlPlane.reportStates(models), log);
    this.models.onChange((state) => {
      if (this.registered) this.pusher.push(state);
    });
  }

  get nodeId(): string | null {
    return this.controlPlane.nodeId;
  }

  async start(): Promise<void> {
    // Every download and verification hashes on this thread: up before the rescan's checks and the first download.
    startHashThread();
    const port = await this.http.listen(this.config.AGENT_PORT, this.config.AGENT_HOST);
    this.url =
      this.config.AGENT_PUBLIC_URL ??
      `http://${this.config.AGENT_HOST === '0.0.0.0' ? '127.0.0.1' : this.config.AGENT_HOST}:${port}`;
    this.log.info({ url: this.url, modelsDir: this.store.root }, 'agent listening');
    this.startupFailures = await this.models.rescan();
    await this.tick();
    if (this.config.AGENT_VERIFY_INTERVAL_MS > 0) {
      this.sweepTimer = setInterval(() => void this.sweep(), this.config.AGENT_VERIFY_INTERVAL_MS);
      this.sweepTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.pusher.stop();
    if (this.timer) clearTimeout(this.timer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.http.close();
    await this.inference.dispose();
  }

  /** The integrity sweep: a full sha256 of every READY model; a mismatch is reported and so repaired. */
  async sweep(): Promise<void> {
    for (const state of this.models.snapshot()) {
      if (state.lifecycleStatus !== 'READY' || this.stopped) continue;
      try {
        await this.repairs.verify(state.modelId, 'SWEEP');
      } catch (err) {
        this.log.warn(
          { err: (err as Error).message, modelId: state.modelId },
          'integrity sweep could not check a model',
        );
      }
    }
  }

  /**
   * Registers if needed, then heartbeats on a fixed cadence (the next one is due an interval after this one started,
   * not after it answered). An attempt is given up after the timeout the control plane gives, and a failed or timed-out
   * one is sent again after its retry delay, not an interval later: both agree with NODE_OFFLINE_AFTER_MS so that after
   * a missed heartbeat two more full attempts fit before the node would be called OFFLINE (src/shared/heartbeat-timing.ts).
   */
  private async tick(): Promise<void> {
    const started = Date.now();
    let ok = false;
    let listener: string | null = null;
    try {
      if (!this.registered) await this.register();
      listener = this.listenerInUse();
      const res = await this.controlPlane.heartbeat(
        { metrics: await this.metrics.metrics(), models: this.models.snapshot() },
        this.heartbeatTimeoutMs ?? Math.max(5000, 2 * this.heartbeatMs),
        listener ?? undefined,
      );
      ok = true;
      await this.reportStartupFailures();
      this.learnTiming(res);
      if (res.progressIntervalMs) this.pusher.setInterval(res.progressIntervalMs);
    } catch (err) {
      if (err instanceof ControlPlaneError && [401, 403, 404].includes(err.status)) this.registered = false;
      // A listener that failed (unreachable, firewalled, slow) is left for LISTENER_RETRY_AFTER_MS: the next attempts
      // go to the control plane's own URL, so a listener that never answers costs one timeout, not one per interval.
      if (listener !== null) this.listenerFailedAt = Date.now();
      this.log.warn({ err: (err as Error).message }, 'control plane unreachable; retrying');
    }
    if (!this.stopped) {
      const retryMs = this.heartbeatRetryMs ?? heartbeatRetryMs(this.heartbeatMs);
      const delay = ok ? Math.max(0, this.heartbeatMs - (Date.now() - started)) : retryMs;
      this.timer = setTimeout(() => void this.tick(), delay);
      this.timer.unref();
    }
  }

  private learnTiming(res: HeartbeatResponse | RegisterNodeResponse): void {
    this.heartbeatMs = res.heartbeatIntervalMs;
    this.heartbeatTimeoutMs = res.heartbeatTimeoutMs ?? null;
    this.heartbeatRetryMs = res.heartbeatRetryMs ?? null;
    let url = res.heartbeatUrl ?? null;
    // A control plane reached over TLS is never left for plain HTTP: the heartbeat carries the node's token.
    if (url !== null && downgrades(this.config.CONTROL_PLANE_URL, url)) url = null;
    if (url !== this.heartbeatUrl) this.listenerFailedAt = null;
    this.heartbeatUrl = url;
  }

  /** Where the next heartbeat goes: the listener unless it failed within LISTENER_RETRY_AFTER_MS; null: the main URL. */
  private listenerInUse(): string | null {
    if (this.heartbeatUrl === null) return null;
    if (this.listenerFailedAt !== null && Date.now() - this.listenerFailedAt < LISTENER_RETRY_AFTER_MS) return null;
    return this.heartbeatUrl;
  }

  private async reportStartupFailures(): Promise<void> {
    const failures = this.startupFailures;
    this.startupFailures = [];
    for (const failure of failures) await this.repairs.report(failure);
  }

  private async register(): Promise<void> {
    const res = await this.controlPlane.register(this.config.NODE_NAME, this.url, await this.metrics.capacity());
    this.learnTiming(res);
    if (res.progressIntervalMs) this.pusher.setInterval(res.progressIntervalMs);
    this.registered = true;
    this.log.info(
      { nodeId: res.nodeId, controlPlane: this.config.CONTROL_PLANE_URL },
      'registered with the control plane',
    );
  }
}

/** Whether `to` is plain HTTP while `from` is HTTPS (or `to` is no URL at all). */
function downgrades(from: string, to: string): boolean {
  try {
    return new URL(from).protocol === 'https:' && new URL(to).protocol !== 'https:';
  } catch {
    return true;
  }
}
