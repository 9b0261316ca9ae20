import { Body, Controller, Headers, HttpCode, Param, Post, UseFilters } from '@nestjs/common';
import { NodeProtocol } from '../auth/auth-policy.js';
import { DomainExceptionFilter } from '../errors/domain-exception.filter.js';
import { bearerOf } from '../nodes/node-tokens.js';
import { NodesService } from '../nodes/nodes.service.js';
import type { FailureReportResponse } from '../shared/agent-protocol.js';
import { RepairService } from './repair.service.js';

/** Agents report load and check failures here; the repair policy answers what happens next. */
@Controller('api/nodes')
@NodeProtocol()
@UseFilters(DomainExceptionFilter)
export class RepairProtocolController {
  constructor(
    private readonly nodes: NodesService,
    private readonly repairs: RepairService,
  ) {}

  @Post(':nodeId/failures')
  @HttpCode(200)
  async report(
    @Param('nodeId') nodeId: string,
    @Body() body: unknown,
    @Headers('authorization') authorization?: string,
  ): Promise<FailureReportResponse> {
    const node = await this.nodes.authenticate(nodeId, bearerOf(authorization));
    return this.repairs.reportFailure(node, body);
  }
}
