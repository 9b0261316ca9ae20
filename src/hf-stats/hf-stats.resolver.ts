import { Args, Query, Resolver } from '@nestjs/graphql';
import { HfStatsService } from './hf-stats.service.js';
import { HfStats } from './models/hf-stats.model.js';

@Resolver(() => HfStats)
export class HfStatsResolver {
  constructor(private readonly stats: HfStatsService) {}

  @Query(() => HfStats, {
    description:
      'Hub popularity of any repository (cached 10 min). Errors say why when the Hub cannot tell (missing, private, rate-limited).',
  })
  async hfStats(@Args('repo', { type: () => String, description: 'org/repo' }) repo: string): Promise<HfStats> {
    return HfStats.from(await this.stats.getStatsStrict(repo));
  }
}
