import { Module } from '@nestjs/common';
import { HfHubClient } from './hf-hub.client.js';
import { HfStatsResolver } from './hf-stats.resolver.js';
import { HfStatsService } from './hf-stats.service.js';

/** The Hugging Face Hub client and the stats cache; APP_CONFIG comes from the global ConfigModule. */
@Module({
  providers: [HfHubClient, HfStatsService, HfStatsResolver],
  exports: [HfHubClient, HfStatsService],
})
export class HfStatsModule {}
