import { ArgsType, Field } from '@nestjs/graphql';
import { PageArgs } from '../../common/pagination.js';
import { NodeStatus } from '../node-status.js';

@ArgsType()
export class NodesArgs extends PageArgs {
  @Field(() => NodeStatus, { nullable: true, description: 'Only ONLINE or only OFFLINE nodes.' })
  status?: NodeStatus | null;
}
