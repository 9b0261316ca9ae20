import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { QueueName } from '../jobs/job-catalog.js';
import { NodesModule } from '../nodes/nodes.module.js';
import { RegistryModule } from '../registry/registry.module.js';
import { AgentProtocolController } from './agent-protocol.controller.js';
import { DownloadsResolver } from './downloads.resolver.js';
import { DownloadsService } from './downloads.service.js';
import { DownloadProcessor } from './jobs/download.processor.js';
import { ModelEventCoalescer } from './model-event-coalescer.service.js';
import { ModelStateRelay } from './model-state-relay.service.js';
import { DownloadDispatchStore } from './dispatch/download-dispatch.store.js';
import { DownloadTracker } from './dispatch/download-tracker.service.js';
import { PeerCopyController } from './peer-copy/peer-copy.controller.js';
import { NodeModelSourceResolver, PeerCopyResolver } from './peer-copy/peer-copy.resolver.js';
import { PeerCopyService } from './peer-copy/peer-copy.service.js';
import { PeerTransferStore } from './peer-copy/peer-transfer.store.js';

@Module({
  imports: [BullModule.registerQueue({ name: QueueName.DOWNLOADS }), NodesModule, RegistryModule],
  providers: [
    DownloadsService,
    ModelStateRelay,
    ModelEventCoalescer,
    DownloadDispatchStore,
    DownloadTracker,
    DownloadProcessor,
    DownloadsResolver,
    PeerTransferStore,
    PeerCopyService,
    PeerCopyResolver,
    NodeModelSourceResolver,
  ],
  controllers: [AgentProtocolController, PeerCopyController],
  exports: [DownloadsService, ModelStateRelay, DownloadDispatchStore],
})
export class DownloadsModule {}
