import { Args, Context, ID, Int, Mutation, Parent, Query, ResolveField, Resolver, Subscription } from '@nestjs/graphql';
import { requestLoader } from '../common/request-loader.js';
import { EventsService } from '../events/events.service.js';
import { Topic, type TopicEvent } from '../events/topics.js';
import { Node, NodeModelState } from '../nodes/models/node.model.js';
import { toNodeModelState } from '../nodes/models/node.mapper.js';
import { RepairTask } from './models/repair-task.model.js';
import { toRepairTask } from './models/repair-task.mapper.js';
import { RepairStatus } from './repair-status.js';
import { RepairService } from './repair.service.js';

@Resolver(() => RepairTask)
export class RepairResolver {
  constructor(
    private readonly repairService: RepairService,
    private readonly events: EventsService,
  ) {}

  @Query(() => [RepairTask], { description: 'Repair history, newest first.' })
  async repairs(
    @Args('nodeId', { type: () => ID, nullable: true }) nodeId?: string | null,
    @Args('modelId', { type: () => ID, nullable: true }) modelId?: string | null,
    @Args('status', { type: () => RepairStatus, nullable: true }) status?: RepairStatus | null,
    @Args('limit', { type: () => Int, nullable: true, description: '1 to 500, default 50.' }) limit?: number | null,
  ): Promise<RepairTask[]> {
    return (await this.repairService.list({ nodeId, modelId, status, limit })).map((t) => toRepairTask(t));
  }

  @Mutation(() => RepairTask, {
    description:
      'Repairs a model on a node now (re-download, verify, reload), even when automatic repair is off or its breaker tripped.',
  })
  async repairModel(
    @Args('modelId', { type: () => ID }) modelId: string,
    @Args('nodeId', { type: () => ID }) nodeId: string,
  ): Promise<RepairTask> {
    return toRepairTask(await this.repairService.repairByHand(modelId, nodeId));
  }

  @Mutation(() => NodeModelState, {
    description: 'Checks the sha256 of a node’s copy of a model against the Hub’s; a mismatch starts a repair.',
  })
  async verifyModel(
    @Args('modelId', { type: () => ID }) modelId: string,
    @Args('nodeId', { type: () => ID }) nodeId: string,
  ): Promise<NodeModelState> {
    return toNodeModelState(await this.repairService.verify(modelId, nodeId));
  }

  @Subscription(() => RepairTask, {
    description: 'Every repair as it starts, retries and ends.',
    filter: (e: TopicEvent<Topic.REPAIR_STATUS_CHANGED>, args: { nodeId?: string | null; modelId?: string | null }) =>
      (!args.nodeId || e.nodeId === args.nodeId) && (!args.modelId || e.modelId === args.modelId),
    resolve: (e: TopicEvent<Topic.REPAIR_STATUS_CHANGED>): RepairTask => toRepairTask(e, e.seq),
  })
  repairStatusChanged(
    @Args('nodeId', { type: () => ID, nullable: true }) _nodeId?: string | null,
    @Args('modelId', { type: () => ID, nullable: true }) _modelId?: string | null,
  ): AsyncIterableIterator<TopicEvent<Topic.REPAIR_STATUS_CHANGED>> {
    return this.events.subscribe(Topic.REPAIR_STATUS_CHANGED);
  }
}

/** The repair module's part of a Node: its repair history (the nodes module never imports repairs). */
@Resolver(() => Node)
export class NodeRepairsResolver {
  constructor(private readonly repairService: RepairService) {}

  @ResolveField(() => [RepairTask], { description: 'Repairs on this node, newest first.' })
  async repairs(@Parent() node: Node, @Context() context: object): Promise<RepairTask[]> {
    const loader = requestLoader<string, RepairTask[]>(context, 'repairsByNode', async (ids) => {
      const rows = await this.repairService.forNodes(ids);
      return ids.map((id) => rows.filter((r) => r.nodeId === id).map((r) => toRepairTask(r)));
    });
    return loader.load(node.id);
  }
}
