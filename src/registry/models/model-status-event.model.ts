import { Field, Float, ID, ObjectType } from '@nestjs/graphql';
import { GraphQLSafeInt } from 'graphql-scalars';
import { LifecycleStatus, ModelStatus } from './model-status.enums.js';

@ObjectType('ModelStatusEvent', { description: 'A change of a model’s status, or of its lifecycle on one node.' })
export class ModelStatusEvent {
  @Field(() => GraphQLSafeInt, {
    description: 'Fleet-wide, strictly increasing: a gap means an event was missed; re-query.',
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
}
