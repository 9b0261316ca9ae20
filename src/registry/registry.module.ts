import { type MiddlewareConsumer, Module, type NestModule, RequestMethod } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CatalogModule } from '../catalog/catalog.module.js';
import { HfStatsModule } from '../hf-stats/hf-stats.module.js';
import { NodesModule } from '../nodes/nodes.module.js';
import { RegisteredModelEntity } from './entities/registered-model.entity.js';
import { FleetProgressResolver } from './fleet-progress.resolver.js';
import { HfCatalogEntryResolver } from './hf-catalog-entry.resolver.js';
import { ModelsQueryCacheMiddleware } from './query-cache/models-query-cache.middleware.js';
import { ModelsQueryCachePlugin } from './query-cache/models-query-cache.plugin.js';
import { ModelsQueryCache } from './query-cache/models-query-cache.service.js';
import { ModelStatesCache } from './model-states-cache.js';
import { ModelsController } from './models.controller.js';
import { RegistrationService } from './registration.service.js';
import { RegistryResolver } from './registry.resolver.js';
import { RegistryService } from './registry.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([RegisteredModelEntity]), CatalogModule, HfStatsModule, NodesModule],
  providers: [
    RegistryService,
    RegistrationService,
    RegistryResolver,
    FleetProgressResolver,
    HfCatalogEntryResolver,
    ModelsQueryCache,
    ModelsQueryCachePlugin,
    ModelStatesCache,
  ],
  controllers: [ModelsController],
  exports: [RegistryService],
})
export class RegistryModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(ModelsQueryCacheMiddleware).forRoutes({ path: 'graphql', method: RequestMethod.POST });
  }
}
