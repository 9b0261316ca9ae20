import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { NodesModule } from '../nodes/nodes.module.js';
import { RegistryModule } from '../registry/registry.module.js';
import { RepairModule } from '../repair/repair.module.js';
import { ChatCompletionsController } from './chat-completions.controller.js';
import { ChatRouter } from './chat-router.service.js';
import { OpenAiExceptionFilter } from './openai-exception.filter.js';

@Module({
  imports: [NodesModule, RegistryModule, RepairModule],
  providers: [ChatRouter, { provide: APP_FILTER, useClass: OpenAiExceptionFilter }],
  controllers: [ChatCompletionsController],
})
export class ServingModule {}
