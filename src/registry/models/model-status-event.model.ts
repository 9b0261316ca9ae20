import { Field, Float, ID, ObjectType } from '@nestjs/graphql';
import { GraphQLSafeInt } from 'graphql-scalars';
import { NodeModelState } from '../../nodes/models/node.model.js';
import { LifecycleStatus, ModelStatus } from './model-status.enums.js';
import { ModelWithStatus } from './model-with-status.model.js';

@ObjectType('ModelStatusEvent', { description: 'A change of a model’s status, or of its lifecycle on one node.' })
export class ModelStatusEvent {
  @Field(() => GraphQLSafeInt, {
    description:
      'Position in this model’s event stream: exactly one more than the previous modelStatusChanged event of the same model, whichever replica published it, and a model’s events arrive in seq order. A gap between two events of one model means an event was missed: re-query that model. (Events of different models are numbered independently.)',
  })
  seq!: number;

  @Field(() => Date)
  timestamp!: Date;

  @Field(() => ID)
  modelId!: string;

  @Field(() => ModelStatus)
  status!: ModelStatus;

  @Field(() => Float, { nullable: true, description: 'Download progress 0..1 (over all nodes, or of `nodeId`).' })
  progress!: number | null;

  @Field(() => ID, { nullable: true, description: 'The node this change is about, when it is about one.' })
  nodeId!: string | null;

  @Field(() => LifecycleStatus, { nullable: true })
  lifecycleStatus!: LifecycleStatus | null;

  @Field(() => String, { nullable: true })
  errorMessage!: string | null;

  @Field(() => ModelWithStatus, {
    description:
      'The model as it now stands, with its id: a client cache updates it in place. Never older than the model in an earlier event. Select `nodes` only when you need the list itself: it is loaded for each event.',
  })
  model!: ModelWithStatus;

  @Field(() => NodeModelState, {
    nullable: true,
    description:
      'The node × model state that changed (with its id), when the change is about one node; the last of `states` when progress of several nodes was coalesced into this event; null for a registration change.',
  })
  state!: NodeModelState | null;

  @Field(() => [NodeModelState], {
    description:
      'Every node × model state of this model that changed since its previous event from the same replica: a lifecycle transition is published at once with its own event; progress alone is coalesced (a few events a second per model, the latest state of each node that moved). Empty for a registration change.',
  })
  states!: NodeModelState[];
}
