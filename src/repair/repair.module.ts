import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DownloadsModule } from '../downloads/downloads.module.js';
import { QueueName } from '../jobs/job-catalog.js';
import { NodesModule } from '../nodes/nodes.module.js';
import { RegistryModule } from '../registry/registry.module.js';
import { RepairTaskEntity } from './entities/repair-task.entity.js';
import { RepairProcessor } from './jobs/repair.processor.js';
import { RepairTracker } from './repair-tracker.service.js';
import { RepairProtocolController } from './repair-protocol.controller.js';
import { NodeRepairsResolver, RepairResolver } from './repair.resolver.js';
import { RepairService } from './repair.service.js';

@Module({
  imports: [
    TypeOrmModule.forFeature([RepairTaskEntity]),
    BullModule.registerQueue({ name: QueueName.REPAIRS }),
    NodesModule,
    RegistryModule,
    DownloadsModule,
  ],
  providers: [RepairService, RepairTracker, RepairProcessor, RepairResolver, NodeRepairsResolver],
  controllers: [RepairProtocolController],
  exports: [RepairService],
})
export class RepairModule {}
