import { Args, ID, Query, Resolver, Subscription } from '@nestjs/graphql';
import { EventsService } from '../events/events.service.js';
import { Topic, type FleetProgressPayload, type TopicEvent } from '../events/topics.js';
import { ModelFleetProgress } from './models/model-fleet-progress.model.js';
import { RegistryService } from './registry.service.js';

function toModelFleetProgress(p: FleetProgressPayload, seq: number, at: Date): ModelFleetProgress {
  return Object.assign(new ModelFleetProgress(), { ...p, id: p.modelId, seq, at });
}

@Resolver(() => ModelFleetProgress)
export class FleetProgressResolver {
  constructor(
    private readonly registry: RegistryService,
    private readonly events: EventsService,
  ) {}

  @Query(() => [ModelFleetProgress], {
    description:
      'Rollout progress per registered model, in id order (one model with `modelId`; empty when it is not registered). Each answer carries the seq of the model’s last fleetProgressChanged event.',
  })
  async fleetProgress(
    @Args('modelId', { type: () => ID, nullable: true, description: 'Only this model.' }) modelId?: string | null,
  ): Promise<ModelFleetProgress[]> {
    const progress = await this.registry.fleetProgress(modelId ? [modelId] : null);
    const seqs = await this.events.currentSeqs(Topic.FLEET_PROGRESS_CHANGED, progress);
    const at = new Date();
    return progress.map((p, i) => toModelFleetProgress(p, seqs[i]!, at));
  }

  @Subscription(() => ModelFleetProgress, {
    description:
      'A model’s rollout progress whenever one of its node × model states changed: at most a few events a second per model (MODEL_EVENT_INTERVAL_MS per replica), whatever the number of nodes; `seq` grows by one per event of the model.',
    filter: (e: TopicEvent<Topic.FLEET_PROGRESS_CHANGED>, args: { modelId?: string | null }) =>
      !args.modelId || e.modelId === args.modelId,
    resolve: (e: TopicEvent<Topic.FLEET_PROGRESS_CHANGED>): ModelFleetProgress =>
      toModelFleetProgress(e, e.seq, new Date(e.timestamp)),
  })
  fleetProgressChanged(
    @Args('modelId', { type: () => ID, nullable: true, description: 'Only this model.' }) _modelId?: string | null,
  ): AsyncIterableIterator<TopicEvent<Topic.FLEET_PROGRESS_CHANGED>> {
    return this.events.subscribe(Topic.FLEET_PROGRESS_CHANGED);
  }
}
