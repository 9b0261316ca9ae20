import { Module } from '@nestjs/common';
import { HfStatsModule } from '../hf-stats/hf-stats.module.js';
import { CatalogResolver } from './catalog.resolver.js';
import { CatalogService } from './catalog.service.js';
import { HfCatalogResolver } from './hf-catalog.resolver.js';

@Module({
  imports: [HfStatsModule],
  providers: [CatalogService, CatalogResolver, HfCatalogResolver],
  exports: [CatalogService],
})
export class CatalogModule {}
