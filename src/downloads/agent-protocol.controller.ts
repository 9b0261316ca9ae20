import { Body, Controller, Headers, HttpCode, Param, Post, Put, UseFilters } from '@nestjs/common';
import { NodeProtocol } from '../auth/auth-policy.js';
import { DomainExceptionFilter } from '../errors/domain-exception.filter.js';
import { bearerOf, hashToken } from '../nodes/node-tokens.js';
import type { NodeModelStateEntity } from '../nodes/entities/node-model-state.entity.js';
import { NodesService } from '../nodes/nodes.service.js';
import { arrivedVia, heartbeatUrlFor } from '../nodes/heartbeat-listener.js';
import type {
  AgentModelState,
  HeartbeatRequest,
  HeartbeatResponse,
  RegisterNodeResponse,
  StatesReportResponse,
} from '../shared/agent-protocol.js';
import { DownloadTracker } from './dispatch/download-tracker.service.js';
import { ModelStateRelay } from './model-state-relay.service.js';
import { isUuid } from '../common/uuid.js';

/**
 * The agent → control plane half of the node protocol (README, "Node protocol"). Registration is idempotent per
 * credentials; heartbeats are authenticated per node and carry metrics and the state of every model the node holds;
 * state reports carry what changed in between (download progress, transitions), pushed by the agent that owns them.
 */
@Controller('api/nodes')
@NodeProtocol()
@UseFilters(DomainExceptionFilter)
export class AgentProtocolController {
  constructor(
    private readonly nodes: NodesService,
    private readonly relay: ModelStateRelay,
    private readonly tracker: DownloadTracker,
  ) {}

  @Post('register')
  @HttpCode(200)
  async register(
    @Body() body: unknown,
    @Headers() headers: Record<string, string | string[] | undefined>,
    @Headers('x-llmfleet-join-token') joinToken?: string,
  ): Promise<RegisterNodeResponse> {
    return {
      ...(await this.nodes.register(body, joinToken ?? null)),
      heartbeatUrl: heartbeatUrlFor(arrivedVia(headers)),
      progressIntervalMs: this.nodes.progressIntervalMs,
    };
  }

  @Put(':nodeId/heartbeat')
  async heartbeat(
    @Param('nodeId') nodeId: string,
    @Body() body: unknown,
    @Headers() headers: Record<string, string | string[] | undefined>,
    @Headers('authorization') authorization?: string,
  ): Promise<HeartbeatResponse> {
    const heartbeat = await this.nodes.recordHeartbeat(nodeId, bearerOf(authorization), body);
    await this.applyHeartbeatStates(nodeId, heartbeat);
    const { intervalMs, timeoutMs, retryMs } = this.nodes.timing;
    return {
      ok: true,
      heartbeatIntervalMs: intervalMs,
      heartbeatTimeoutMs: timeoutMs,
      heartbeatRetryMs: retryMs,
      heartbeatUrl: heartbeatUrlFor(arrivedVia(headers)),
      progressIntervalMs: this.nodes.progressIntervalMs,
    };
  }

  /** A recorded heartbeat's model states (here, or from the heartbeat listener's thread). */
  async applyHeartbeatStates(nodeId: string, heartbeat: HeartbeatRequest): Promise<void> {
    // Written every time: only a newer version changes a row, and a row removed meanwhile (a model unregistered and
    // registered again, on any replica) must come back at the next heartbeat.
    await this.apply(nodeId, heartbeat.models);
  }

  @Post(':nodeId/states')
  @HttpCode(200)
  async states(
    @Param('nodeId') nodeId: string,
    @Body() body: unknown,
    @Headers('authorization') authorization?: string,
  ): Promise<StatesReportResponse> {
    const token = bearerOf(authorization);
    let models: AgentModelState[] | null = null;
    try {
      models = this.nodes.parseStatesReport(body).models;
    } catch {
      // Who may report is said before what is wrong with the report (authenticateId throws first).
    }
    // The common case in one statement: the token checked where the states are written.
    const written =
      token && models && isUuid(nodeId) ? await this.relay.fromAgentReportsAs(nodeId, hashToken(token), models) : null;
    if (written) {
      await this.observe(nodeId, models!, written);
    } else {
      // Refused (no token, another node's, an unknown node: each with its own answer) or a malformed report.
      const id = await this.nodes.authenticateId(nodeId, token);
      await this.apply(id, models ?? this.nodes.parseStatesReport(body).models);
    }
    return { ok: true, progressIntervalMs: this.nodes.progressIntervalMs };
  }

  private async apply(nodeId: string, reports: readonly AgentModelState[]): Promise<void> {
    await this.observe(nodeId, reports, await this.relay.fromAgentReports(nodeId, reports));
  }

  /** The download tracker follows what was written (READY ends a download, ERROR fails its attempt). */
  private async observe(
    nodeId: string,
    reports: readonly AgentModelState[],
    written: readonly NodeModelStateEntity[],
  ): Promise<void> {
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
