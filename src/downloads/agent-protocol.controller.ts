import { Body, Controller, Headers, HttpCode, Param, Post, Put, UseFilters } from '@nestjs/common';
import { NodeProtocol } from '../auth/auth-policy.js';
import { DomainExceptionFilter } from '../errors/domain-exception.filter.js';
import { bearerOf } from '../nodes/node-tokens.js';
import { NodesService } from '../nodes/nodes.service.js';
import { heartbeatUrlFor } from '../nodes/heartbeat-listener.js';
import type {
  AgentModelState,
  HeartbeatRequest,
  HeartbeatResponse,
  RegisterNodeResponse,
  StatesReportResponse,
} from '../shared/agent-protocol.js';
import { DownloadTracker } from './dispatch/download-tracker.service.js';
import { ModelStateRelay } from './model-state-relay.service.js';

/**
 * The agent → control plane half of the node protocol (README, "Node protocol"). Registration is idempotent per
 * credentials; heartbeats are authenticated per node and carry metrics and the state of every model the node holds;
 * state reports carry what changed in between (download progress, transitions), pushed by the agent that owns them.
 */
@Controller('api/nodes')
@NodeProtocol()
@UseFilters(DomainExceptionFilter)
export class AgentProtocolController {
  private readonly unchanged = new ReportedStates();

  constructor(
    private readonly nodes: NodesService,
    private readonly relay: ModelStateRelay,
    private readonly tracker: DownloadTracker,
  ) {}

  @Post('register')
  @HttpCode(200)
  async register(
    @Body() body: unknown,
    @Headers('x-llmfleet-join-token') joinToken?: string,
    @Headers('host') host?: string,
  ): Promise<RegisterNodeResponse> {
    return {
      ...(await this.nodes.register(body, joinToken ?? null)),
      heartbeatUrl: heartbeatUrlFor(host),
      progressIntervalMs: this.nodes.progressIntervalMs,
    };
  }

  @Put(':nodeId/heartbeat')
  async heartbeat(
    @Param('nodeId') nodeId: string,
    @Body() body: unknown,
    @Headers('authorization') authorization?: string,
    @Headers('host') host?: string,
  ): Promise<HeartbeatResponse> {
    const heartbeat = await this.nodes.recordHeartbeat(nodeId, bearerOf(authorization), body);
    await this.applyHeartbeatStates(nodeId, heartbeat);
    const { intervalMs, timeoutMs, retryMs } = this.nodes.timing;
    return {
      ok: true,
      heartbeatIntervalMs: intervalMs,
      heartbeatTimeoutMs: timeoutMs,
      heartbeatRetryMs: retryMs,
      heartbeatUrl: heartbeatUrlFor(host),
      progressIntervalMs: this.nodes.progressIntervalMs,
    };
  }

  /** A recorded heartbeat's model states (here, or from the heartbeat listener's thread). */
  async applyHeartbeatStates(nodeId: string, heartbeat: HeartbeatRequest): Promise<void> {
    if (!this.unchanged.changed(nodeId, heartbeat.models)) return;
    try {
      await this.apply(nodeId, heartbeat.models);
    } catch (err) {
      this.unchanged.forget(nodeId);
      throw err;
    }
  }

  @Post(':nodeId/states')
  @HttpCode(200)
  async states(
    @Param('nodeId') nodeId: string,
    @Body() body: unknown,
    @Headers('authorization') authorization?: string,
  ): Promise<StatesReportResponse> {
    const id = await this.nodes.authenticateId(nodeId, bearerOf(authorization));
    await this.apply(id, this.nodes.parseStatesReport(body).models);
    return { ok: true, progressIntervalMs: this.nodes.progressIntervalMs };
  }

  private async apply(nodeId: string, reports: readonly AgentModelState[]): Promise<void> {
    const written = await this.relay.fromAgentReports(nodeId, reports);
    const retryable = new Map(reports.map((r) => [r.modelId, r.retryable]));
    await this.tracker.observe(
      nodeId,
      written.map((s) => ({
        modelId: s.modelId,
        lifecycleStatus: s.lifecycleStatus,
        errorMessage: s.errorMessage,
        retryable: retryable.get(s.modelId),
      })),
    );
  }
}

/** How long a heartbeat's states are taken as written without writing them again (see ReportedStates). */
const UNCHANGED_FOR_MS = 30_000;
/** Nodes remembered, at most. */
const REMEMBERED_NODES = 100_000;

/**
 * The states each node's last heartbeats carried through this replica, as (model, version) pairs. A heartbeat carries
 * every state of its node; most carry exactly what the previous one did, and writing them again changes nothing (a
 * state is only written over by a newer version). Such a heartbeat skips the write — one statement less per heartbeat —
 * for up to UNCHANGED_FOR_MS, after which the states are written again anyway (so a state removed meanwhile, e.g. by
 * unregistering and registering a model again, comes back within that time).
 */
class ReportedStates {
  private readonly last = new Map<string, { digest: string; at: number }>();

  /** Whether these states differ from what this node last reported here (or that was long ago); records them. */
  changed(nodeId: string, models: readonly AgentModelState[]): boolean {
    const digest = models.map((m) => `${m.modelId}\u0000${m.version}`).join('\u0001');
    const now = Date.now();
    const previous = this.last.get(nodeId);
    if (previous && previous.digest === digest && now - previous.at < UNCHANGED_FOR_MS) return false;
    this.last.delete(nodeId);
    if (this.last.size >= REMEMBERED_NODES) this.last.delete(this.last.keys().next().value!);
    this.last.set(nodeId, { digest, at: now });
    return true;
  }

  /** The write failed: the next heartbeat writes again. */
  forget(nodeId: string): void {
    this.last.delete(nodeId);
  }
}
