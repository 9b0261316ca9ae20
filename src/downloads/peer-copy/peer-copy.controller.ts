import { Body, Controller, Headers, HttpCode, Param, Post, UseFilters } from '@nestjs/common';
import { NodeProtocol } from '../../auth/auth-policy.js';
import { DomainExceptionFilter } from '../../errors/domain-exception.filter.js';
import { bearerOf } from '../../nodes/node-tokens.js';
import { NodesService } from '../../nodes/nodes.service.js';
import type { PeerSourceAnswer } from '../../shared/agent-protocol.js';
import { PeerCopyService } from './peer-copy.service.js';

/** The peer-copy calls of the node protocol (docs/node-protocol.md): where to fetch a file from, how it went. */
@Controller('api/nodes')
@NodeProtocol()
@UseFilters(DomainExceptionFilter)
export class PeerCopyController {
  constructor(
    private readonly nodes: NodesService,
    private readonly peerCopy: PeerCopyService,
  ) {}

  @Post(':nodeId/peer-sources')
  @HttpCode(200)
  async source(
    @Param('nodeId') nodeId: string,
    @Body() body: unknown,
    @Headers('authorization') authorization?: string,
  ): Promise<PeerSourceAnswer> {
    const node = await this.nodes.authenticate(nodeId, bearerOf(authorization));
    return this.peerCopy.chooseSource(node, body);
  }

  @Post(':nodeId/peer-transfers/:transferId')
  @HttpCode(200)
  async report(
    @Param('nodeId') nodeId: string,
    @Param('transferId') transferId: string,
    @Body() body: unknown,
    @Headers('authorization') authorization?: string,
  ): Promise<{ ok: true }> {
    const node = await this.nodes.authenticate(nodeId, bearerOf(authorization));
    await this.peerCopy.report(node, transferId, body);
    return { ok: true };
  }
}
