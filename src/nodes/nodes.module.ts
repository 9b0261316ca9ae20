import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AgentClient } from './agent.client.js';
import { FleetSecretEntity } from './entities/fleet-secret.entity.js';
import { NodeModelStateEntity } from './entities/node-model-state.entity.js';
import { NodeEntity } from './entities/node.entity.js';
import { JoinTokenResolver } from './join-token.resolver.js';
import { JoinTokenService } from './join-token.service.js';
import { HeartbeatArrivals } from './heartbeat-arrivals.service.js';
import { NodeLivenessService } from './node-liveness.service.js';
import { NodeStatesService } from './node-states.service.js';
import { NodesResolver } from './nodes.resolver.js';
import { NodesService } from './nodes.service.js';
import { SecretBox } from './secret-box.js';

@Module({
  imports: [TypeOrmModule.forFeature([NodeEntity, NodeModelStateEntity, FleetSecretEntity])],
  providers: [
    SecretBox,
    JoinTokenService,
    JoinTokenResolver,
    NodesService,
    NodeStatesService,
    AgentClient,
    NodeLivenessService,
    HeartbeatArrivals,
    NodesResolver,
  ],
  exports: [JoinTokenService, NodesService, NodeStatesService, AgentClient, HeartbeatArrivals],
})
export class NodesModule {}
