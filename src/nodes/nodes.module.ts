import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AgentClient } from './agent.client.js';
import { NodeModelStateEntity } from './entities/node-model-state.entity.js';
import { NodeEntity } from './entities/node.entity.js';
import { NodeLivenessService } from './node-liveness.service.js';
import { NodeStatesService } from './node-states.service.js';
import { NodesResolver } from './nodes.resolver.js';
import { NodesService } from './nodes.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([NodeEntity, NodeModelStateEntity])],
  providers: [NodesService, NodeStatesService, AgentClient, NodeLivenessService, NodesResolver],
  exports: [NodesService, NodeStatesService, AgentClient],
})
export class NodesModule {}
