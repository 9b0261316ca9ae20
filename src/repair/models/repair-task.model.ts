import { Field, ID, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { GraphQLSafeInt } from 'graphql-scalars';
import { ModelLoadError } from '../../shared/model-load-error.js';
import { RepairStatus, RepairTrigger } from '../repair-status.js';

registerEnumType(RepairStatus, { name: 'RepairStatus', description: 'Where a repair stands (seed 004).' });
registerEnumType(RepairTrigger, { name: 'RepairTrigger', description: 'What started a repair.' });

@ObjectType('RepairTask', { description: 'One repair of a model on a node: re-download, verify, reload.' })
export class RepairTask {
  @Field(() => GraphQLSafeInt, {
    nullable: true,
    description:
      'Subscriptions only: position in the repair stream of this node × model, one more than its previous repairStatusChanged event; a gap means one was missed. Null in queries.',
  })
  seq!: number | null;

  @Field(() => ID)
  id!: string;

  @Field(() => ID)
  nodeId!: string;

  @Field(() => ID)
  modelId!: string;

  @Field(() => ModelLoadError, { description: 'The failure that started the repair.' })
  reason!: ModelLoadError;

  @Field({ description: 'What the agent saw, in words.' })
  detail!: string;

  @Field(() => RepairTrigger)
  trigger!: RepairTrigger;

  @Field(() => RepairStatus)
  status!: RepairStatus;

  @Field({ description: 'True when the bytes on disk were discarded; false when a truncated file was resumed.' })
  fromZero!: boolean;

  @Field(() => Int)
  attempts!: number;

  @Field(() => String, { nullable: true })
  errorMessage!: string | null;

  @Field(() => Int, { description: 'The repair’s timeout, scaled with the model’s size.' })
  timeoutMs!: number;

  @Field(() => Date)
  startedAt!: Date;

  @Field(() => Date, { nullable: true })
  finishedAt!: Date | null;

  @Field(() => GraphQLSafeInt, { description: 'Milliseconds from start to finish (to now while in progress).' })
  elapsedMs!: number;
}
