import { Field, Float, ID, Int, ObjectType } from '@nestjs/graphql';
import { GraphQLSafeInt } from 'graphql-scalars';

@ObjectType('ModelFleetProgress', {
  description:
    'Where a model’s rollout stands across the fleet: node counts per lifecycle, bytes and rate. Read from maintained aggregates (a few rows whatever the fleet size); follow it with fleetProgressChanged instead of subscribing to every node × model.',
})
export class ModelFleetProgress {
  @Field(() => ID, { description: 'The model id (one progress per model: a client cache keeps one copy).' })
  id!: string;

  @Field(() => ID)
  modelId!: string;

  @Field(() => Int, { description: 'Nodes that hold the model or were asked to get it, whatever their lifecycle.' })
  nodesTotal!: number;

  @Field(() => Int)
  pending!: number;

  @Field(() => Int)
  downloading!: number;

  @Field(() => Int, { description: 'Downloaded and verified, being loaded.' })
  loading!: number;

  @Field(() => Int)
  ready!: number;

  @Field(() => Int, { description: 'Nodes in ERROR.' })
  failed!: number;

  @Field(() => Int)
  cancelled!: number;

  @Field(() => GraphQLSafeInt, {
    description: 'Bytes done over the nodes in flight (pending, downloading, loading) and the ready ones.',
  })
  bytesDone!: number;

  @Field(() => GraphQLSafeInt, { description: 'Bytes to have over the same nodes as bytesDone.' })
  bytesTotal!: number;

  @Field(() => Float, { description: 'Sum of the transfer rates of the nodes downloading (bytes per second).' })
  bytesPerSecond!: number;

  @Field(() => GraphQLSafeInt, {
    description:
      'Position in this model’s progress stream: each fleetProgressChanged event of the model is one more than the previous one; a query answers the seq of the last event, so a subscriber that sees seq + 1 next missed nothing.',
  })
  seq!: number;

  @Field(() => Date, { description: 'When these figures were read.' })
  at!: Date;
}
