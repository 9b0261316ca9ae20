import { Args, ID, Mutation, Parent, Query, ResolveField, Resolver, Subscription } from '@nestjs/graphql';
import { EventsService } from '../events/events.service.js';
import { Topic, type TopicEvent } from '../events/topics.js';
import { HfStatsService } from '../hf-stats/hf-stats.service.js';
import { HfStats } from '../hf-stats/models/hf-stats.model.js';
import { NodeModelState } from '../nodes/models/node.model.js';
import { ModelIdArgs, ModelStatusChangedArgs, ModelsArgs } from './dto/models.args.js';
import { ModelStatusEvent } from './models/model-status-event.model.js';
import { LifecycleStatus, ModelStatus } from './models/model-status.enums.js';
import { toModelWithStatus } from './models/model-view.mapper.js';
import { ModelWithStatus } from './models/model-with-status.model.js';
import { RegistrationService } from './registration.service.js';
import { RegistryService } from './registry.service.js';

@Resolver(() => ModelWithStatus)
export class RegistryResolver {
  constructor(
    private readonly registry: RegistryService,
    private readonly registration: RegistrationService,
    private readonly stats: HfStatsService,
    private readonly events: EventsService,
  ) {}

  @Query(() => [ModelWithStatus], { description: 'Catalog models and registered models with their fleet status.' })
  async models(@Args() args: ModelsArgs): Promise<ModelWithStatus[]> {
    return (await this.registry.list(args)).map(toModelWithStatus);
  }

  @Query(() => ModelWithStatus, { nullable: true, description: 'One model by id; null when unknown.' })
  async model(@Args('id', { type: () => ID }) id: string): Promise<ModelWithStatus | null> {
    const view = await this.registry.find(id);
    return view ? toModelWithStatus(view) : null;
  }

  @Mutation(() => ModelWithStatus, {
    description: 'Registers a catalog model: pins its commit and files; no bytes move.',
  })
  async registerModel(@Args() { modelId }: ModelIdArgs): Promise<ModelWithStatus> {
    return toModelWithStatus(await this.registration.registerCatalogModel(modelId));
  }

  @Mutation(() => ModelWithStatus, {
    description:
      'Registers a GGUF model from the Hub: a repo URL, org/repo, or a file URL (/blob/<rev>/<file> or /resolve/<rev>/<file>).',
  })
  async registerHfModel(@Args('url', { type: () => String }) url: string): Promise<ModelWithStatus> {
    return toModelWithStatus(await this.registration.registerHubModel(url));
  }

  @Mutation(() => ModelWithStatus, {
    description: 'Unregisters a model (registered → available). Files on nodes are kept.',
  })
  async unregisterModel(@Args() { modelId }: ModelIdArgs): Promise<ModelWithStatus> {
    return toModelWithStatus(await this.registry.unregister(modelId));
  }

  @ResolveField(() => [NodeModelState], { description: 'The model on each node that has it or is getting it.' })
  nodes(@Parent() model: ModelWithStatus): NodeModelState[] {
    return model.nodeStates;
  }

  @ResolveField(() => HfStats, {
    nullable: true,
    description: 'Hub popularity (cached 10 min); stale when the Hub is unreachable, null when never fetched.',
  })
  async hfStats(@Parent() model: ModelWithStatus): Promise<HfStats | null> {
    const value = await this.stats.getStats(model.model.repo);
    return value ? HfStats.from(value) : null;
  }

  @Subscription(() => ModelStatusEvent, {
    description: 'Every change of a model’s status or of its lifecycle on a node.',
    filter: (event: TopicEvent<Topic.MODEL_STATUS_CHANGED>, args: ModelStatusChangedArgs) =>
      !args.modelId || event.modelId === args.modelId,
    resolve: (event: TopicEvent<Topic.MODEL_STATUS_CHANGED>): ModelStatusEvent =>
      Object.assign(new ModelStatusEvent(), {
        ...event,
        status: event.status as ModelStatus,
        lifecycleStatus: event.lifecycleStatus as LifecycleStatus | null,
        timestamp: new Date(event.timestamp),
      }),
  })
  modelStatusChanged(
    @Args() _args: ModelStatusChangedArgs,
  ): AsyncIterableIterator<TopicEvent<Topic.MODEL_STATUS_CHANGED>> {
    return this.events.subscribe(Topic.MODEL_STATUS_CHANGED);
  }
}
