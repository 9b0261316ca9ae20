import { Args, ID, Info, Query, ResolveField, Resolver, Subscription } from '@nestjs/graphql';
import type { GraphQLResolveInfo } from 'graphql';
import { loaderScope, requestLoader } from '../common/request-loader.js';
import { selectsField } from '../common/selected-fields.js';
import { EventsService } from '../events/events.service.js';
import { Topic, type TopicEvent } from '../events/topics.js';
import { isPaged } from '../common/pagination.js';
import { NodesArgs } from './dto/nodes.args.js';
import { NodeStatus } from './node-status.js';
import { Node, NodeMetrics, NodeModelState, NodeStatusEvent } from './models/node.model.js';
import { fromNodePayload, toNode, toNodeMetrics, toNodeModelState } from './models/node.mapper.js';
import { NodeStatesService } from './node-states.service.js';
import { NodesService } from './nodes.service.js';

@Resolver(() => Node)
export class NodesResolver {
  constructor(
    private readonly nodeService: NodesService,
    private readonly states: NodeStatesService,
    private readonly events: EventsService,
  ) {}

  @Query(() => [Node], {
    description:
      'The fleet’s nodes in name order (names are unique), optionally only ONLINE or OFFLINE ones. Paged with `first` and `after` (the id of the last node of the previous page); without `first`, every node. Node.models is loaded only when asked, in one query for the page.',
  })
  async nodes(@Args() { status, first, after }: NodesArgs, @Info() info: GraphQLResolveInfo): Promise<Node[]> {
    const nodes = (
      isPaged({ first, after })
        ? await this.nodeService.page(status, { first, after })
        : await this.nodeService.list(status)
    ).map(toNode);
    // The page's model states in one query before graphql-js walks it, when the query selects them.
    if (selectsField(info, 'models')) {
      const byNode = await this.statesByNode(nodes.map((n) => n.id));
      for (const node of nodes) node.preloadedModels = byNode.get(node.id)!;
    }
    return nodes;
  }

  @Query(() => Node, { nullable: true, description: 'One node; null when unknown.' })
  async node(@Args('id', { type: () => ID }) id: string): Promise<Node | null> {
    const node = await this.nodeService.find(id);
    return node ? toNode(node) : null;
  }

  /** Without parameter decorators: Nest hands graphql-js the method itself (no per-call wrapper; see ModelWithStatus.nodes). */
  @ResolveField(() => [NodeModelState], { description: 'Every model this node holds or is getting.' })
  models(
    node: Node,
    _args: unknown,
    context: object,
    info: GraphQLResolveInfo,
  ): NodeModelState[] | Promise<NodeModelState[]> {
    if (node.preloadedModels) return node.preloadedModels;
    const loader = requestLoader<string, NodeModelState[]>(loaderScope(context, info), 'statesByNode', async (ids) => {
      const byNode = await this.statesByNode(ids);
      return ids.map((id) => byNode.get(id)!);
    });
    return loader.load(node.id);
  }

  /** Every model state on these nodes, grouped by node (an entry for each id): one query. */
  private async statesByNode(ids: readonly string[]): Promise<Map<string, NodeModelState[]>> {
    const byNode = new Map<string, NodeModelState[]>();
    for (const [id, rows] of await this.states.byNodes(ids)) byNode.set(id, rows.map(toNodeModelState));
    return byNode;
  }

  @Subscription(() => NodeStatusEvent, {
    description:
      'A node came online, went offline, (re)registered, or one of its models changed lifecycle; with the node and its models, so a client cache updates the node (and its list of models) in place.',
    filter: (e: TopicEvent<Topic.NODE_STATUS_CHANGED>, args: { nodeId?: string | null }) =>
      !args.nodeId || e.nodeId === args.nodeId,
    resolve: (e: TopicEvent<Topic.NODE_STATUS_CHANGED>): NodeStatusEvent =>
      Object.assign(new NodeStatusEvent(), {
        seq: e.seq,
        timestamp: new Date(e.timestamp),
        nodeId: e.nodeId,
        name: e.name,
        status: e.status as NodeStatus,
        models: e.models.map(toNodeModelState),
        node: fromNodePayload(e.node, e.models),
      }),
  })
  nodeStatusChanged(
    @Args('nodeId', { type: () => ID, nullable: true }) _nodeId?: string | null,
  ): AsyncIterableIterator<TopicEvent<Topic.NODE_STATUS_CHANGED>> {
    return this.events.subscribe(Topic.NODE_STATUS_CHANGED);
  }

  @Subscription(() => NodeMetrics, {
    description:
      'Every heartbeat’s metrics, with the node’s id as their id: a client cache updates the node’s metrics wherever they are shown.',
    filter: (e: TopicEvent<Topic.METRICS_UPDATED>, args: { nodeId?: string | null }) =>
      !args.nodeId || e.nodeId === args.nodeId,
    resolve: (e: TopicEvent<Topic.METRICS_UPDATED>): NodeMetrics => toNodeMetrics(e, new Date(e.timestamp), e.seq),
  })
  metricsUpdated(
    @Args('nodeId', { type: () => ID, nullable: true }) _nodeId?: string | null,
  ): AsyncIterableIterator<TopicEvent<Topic.METRICS_UPDATED>> {
    return this.events.subscribe(Topic.METRICS_UPDATED);
  }
}
