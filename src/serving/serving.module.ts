import { Module } from '@nestjs/common';
import { NodesModule } from '../nodes/nodes.module.js';
import { RegistryModule } from '../registry/registry.module.js';
import { RepairModule } from '../repair/repair.module.js';
import { ChatCompletionsController } from './chat-completions.controller.js';
import { ChatRouter } from './chat-router.service.js';

@Module({
  imports: [NodesModule, RegistryModule, RepairModule],
  providers: [ChatRouter],
  controllers: [ChatCompletionsController],
})
export class ServingModule {}
