import { Args, ID, Info, Mutation, Query, ResolveField, Resolver, Subscription } from '@nestjs/graphql';
import type { GraphQLResolveInfo } from 'graphql';
import { loaderScope, requestLoader } from '../common/request-loader.js';
import { selectsField } from '../common/selected-fields.js';
import { EventsService } from '../events/events.service.js';
import { Topic, type TopicEvent } from '../events/topics.js';
import { HfStatsService } from '../hf-stats/hf-stats.service.js';
import { HfStats } from '../hf-stats/models/hf-stats.model.js';
import { NodeModelState } from '../nodes/models/node.model.js';
import { toNodeModelState } from '../nodes/models/node.mapper.js';
import { NodeStatesService } from '../nodes/node-states.service.js';
import { ModelIdArgs, ModelStatusChangedArgs, ModelsArgs } from './dto/models.args.js';
import { ModelStatesCache, type StatesKey } from './model-states-cache.js';
import { ModelStatusEvent } from './models/model-status-event.model.js';
import { LifecycleStatus, ModelStatus } from './models/model-status.enums.js';
import { fromModelSnapshot, toModelWithStatus } from './models/model-view.mapper.js';
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
    private readonly states: NodeStatesService,
    private readonly statesCache: ModelStatesCache,
  ) {}

  /**
   * Declared without parameter decorators on purpose: Nest then hands graphql-js the method itself (its fast path for
   * field resolvers), instead of a wrapper that resolves parameters per call — this runs once per model of a list.
   */
  @ResolveField(() => [NodeModelState], {
    description:
      'The model on each node that has it or is getting it (loaded only when asked, in one query per request).',
  })
  nodes(
    model: ModelWithStatus,
    _args: unknown,
    context: object,
    info: GraphQLResolveInfo,
  ): readonly NodeModelState[] | Promise<readonly NodeModelState[]> {
    if (model.preloadedNodes) return model.preloadedNodes;
    if (model.status === ModelStatus.AVAILABLE) return [];
    const loader = requestLoader<string, NodeModelState[]>(loaderScope(context, info), 'statesByModel', async (ids) => {
      const byModel = await this.statesByModel(ids);
      return ids.map((id) => byModel.get(id)!);
    });
    return loader.load(model.id);
  }

  /** Every node state of these models, grouped by model (an entry for each id): one query. */
  private async statesByModel(ids: readonly string[]): Promise<Map<string, NodeModelState[]>> {
    const byModel = new Map<string, NodeModelState[]>();
    for (const [id, rows] of await this.states.byModels(ids)) byModel.set(id, rows.map(toNodeModelState));
    return byModel;
  }

  /**
   * A list's node states before graphql-js walks it, when the query selects them: from this replica's cache for the
   * models whose fleet version has not moved since their states were read, the others in one query.
   */
  private async withNodes(models: ModelWithStatus[], info: GraphQLResolveInfo): Promise<void> {
    if (!selectsField(info, 'nodes')) return;
    const keys: StatesKey[] = [];
    const uncached: string[] = [];
    for (const m of models) {
      if (m.status === ModelStatus.AVAILABLE) continue;
      if (m.registeredAt !== null && m.fleetVersion) {
        keys.push({ id: m.id, registeredAt: m.registeredAt.getTime(), version: m.fleetVersion });
      } else {
        uncached.push(m.id);
      }
    }
    const [cached, read] = await Promise.all([
      this.statesCache.read(keys, (ids) => this.statesByModel(ids)),
      this.statesByModel(uncached),
    ]);
    for (const m of models) m.preloadedNodes = cached.get(m.id) ?? read.get(m.id) ?? [];
  }

  @Query(() => [ModelWithStatus], {
    description:
      'Catalog models and registered models with their fleet status. Paged with `first` and `after` (the id of the last model of the previous page): pages are in id order (code-unit order). Without `first` or `after`, every model in catalog order, then Hugging Face registrations oldest first. ModelWithStatus.nodes is loaded only when asked, in one query for the page.',
  })
  async models(@Args() args: ModelsArgs, @Info() info: GraphQLResolveInfo): Promise<ModelWithStatus[]> {
    const models = (await this.registry.list(args)).map(toModelWithStatus);
    await Promise.all([this.withStats(models, info), this.withNodes(models, info)]);
    return models;
  }

  @Query(() => ModelWithStatus, { nullable: true, description: 'One model by id; null when unknown.' })
  async model(
    @Args('id', { type: () => ID }) id: string,
    @Info() info: GraphQLResolveInfo,
  ): Promise<ModelWithStatus | null> {
    const view = await this.registry.find(id);
    return view ? (await this.withStats([toModelWithStatus(view)], info))[0]! : null;
  }

  @Mutation(() => ModelWithStatus, {
    description: 'Registers a catalog model: pins its commit and files; no bytes move.',
  })
  async registerModel(@Args() { modelId }: ModelIdArgs, @Info() info: GraphQLResolveInfo): Promise<ModelWithStatus> {
    return (await this.withStats([toModelWithStatus(await this.registration.registerCatalogModel(modelId))], info))[0]!;
  }

  @Mutation(() => ModelWithStatus, {
    description:
      'Registers a GGUF model from the Hub: a repo URL, org/repo, or a file URL (/blob/<rev>/<file> or /resolve/<rev>/<file>).',
  })
  async registerHfModel(
    @Args('url', { type: () => String }) url: string,
    @Info() info: GraphQLResolveInfo,
  ): Promise<ModelWithStatus> {
    return (await this.withStats([toModelWithStatus(await this.registration.registerHubModel(url))], info))[0]!;
  }

  @Mutation(() => ModelWithStatus, {
    description: 'Unregisters a model (registered → available). Files on nodes are kept.',
  })
  async unregisterModel(@Args() { modelId }: ModelIdArgs): Promise<ModelWithStatus> {
    return toModelWithStatus(await this.registry.unregister(modelId));
  }

  /** Hub stats for the whole list at once, with one shared wait, and only when the query asks for them. */
  private async withStats(models: ModelWithStatus[], info: GraphQLResolveInfo): Promise<ModelWithStatus[]> {
    if (!selectsField(info, 'hfStats')) return models;
    const stats = await this.stats.getMany(models.map((m) => m.model.repo));
    for (const m of models) {
      const value = stats.get(m.model.repo);
      m.hfStats = value ? HfStats.from(value) : null;
    }
    return models;
  }

  @Subscription(() => ModelStatusEvent, {
    description:
      'Every change of a model’s status, registration, or state on a node (lifecycle and coalesced progress), with the changed model and node × model state: enough for a normalizing client cache to update every view of them.',
    filter: (event: TopicEvent<Topic.MODEL_STATUS_CHANGED>, args: ModelStatusChangedArgs) =>
      !args.modelId || event.modelId === args.modelId,
    resolve: (event: TopicEvent<Topic.MODEL_STATUS_CHANGED>): ModelStatusEvent =>
      Object.assign(new ModelStatusEvent(), {
        ...event,
        status: event.status as ModelStatus,
        lifecycleStatus: event.lifecycleStatus as LifecycleStatus | null,
        timestamp: new Date(event.timestamp),
        model: fromModelSnapshot(event.model),
        state: event.state ? toNodeModelState(event.state) : null,
        states: (event.states ?? (event.state ? [event.state] : [])).map(toNodeModelState),
      }),
  })
  modelStatusChanged(
    @Args() _args: ModelStatusChangedArgs,
  ): AsyncIterableIterator<TopicEvent<Topic.MODEL_STATUS_CHANGED>> {
    return this.events.subscribe(Topic.MODEL_STATUS_CHANGED);
  }
}
