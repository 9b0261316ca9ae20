import { Body, Controller, Headers, HttpCode, Param, Post, Put, UseFilters } from '@nestjs/common';
import { NodeProtocol } from '../auth/auth-policy.js';
import { DomainExceptionFilter } from '../errors/domain-exception.filter.js';
import { bearerOf } from '../nodes/node-tokens.js';
import { NodesService } from '../nodes/nodes.service.js';
import type { HeartbeatResponse, RegisterNodeResponse } from '../shared/agent-protocol.js';
import { ModelStateRelay } from './model-state-relay.service.js';

/**
 * The agent → control plane half of the node protocol (README, "Node protocol"). Registration is idempotent per
 * credentials; heartbeats are authenticated per node and carry metrics and the state of every model the node holds.
 */
@Controller('api/nodes')
@NodeProtocol()
@UseFilters(DomainExceptionFilter)
export class AgentProtocolController {
  constructor(
    private readonly nodes: NodesService,
    private readonly relay: ModelStateRelay,
  ) {}

  @Post('register')
  @HttpCode(200)
  async register(
    @Body() body: unknown,
    @Headers('x-llmfleet-join-token') joinToken?: string,
  ): Promise<RegisterNodeResponse> {
    return this.nodes.register(body, joinToken ?? null);
  }

  @Put(':nodeId/heartbeat')
  async heartbeat(
    @Param('nodeId') nodeId: string,
    @Body() body: unknown,
    @Headers('authorization') authorization?: string,
  ): Promise<HeartbeatResponse> {
    const node = await this.nodes.authenticate(nodeId, bearerOf(authorization));
    const heartbeat = await this.nodes.heartbeat(node, body);
    await this.relay.fromAgentReports(node.id, heartbeat.models);
    return { ok: true, heartbeatIntervalMs: this.nodes.heartbeatIntervalMs };
  }
}
