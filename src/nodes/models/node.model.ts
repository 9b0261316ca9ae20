import { Field, Float, ID, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { GraphQLSafeInt } from 'graphql-scalars';
import { ModelLoadError } from '../../shared/model-load-error.js';
import { LifecycleStatus } from '../lifecycle-status.js';
import { NodeStatus } from '../node-status.js';

registerEnumType(NodeStatus, {
  name: 'NodeStatus',
  description: 'ONLINE while the node heartbeats; OFFLINE after missed heartbeats.',
});
registerEnumType(ModelLoadError, {
  name: 'ModelLoadError',
  description: 'Why a model failed to load on a node (seed 004).',
});

@ObjectType('NodeModelState', { description: 'One model on one node.' })
export class NodeModelState {
  @Field(() => ID, {
    description:
      'Stable id of this node × model: `{nodeId}:{modelId}` (the node id is a UUID, so the first colon separates them). The same under Node.models, ModelWithStatus.nodes, mutation results and events, so a normalizing client cache keeps one copy.',
  })
  id!: string;

  @Field(() => ID)
  nodeId!: string;

  @Field(() => ID)
  modelId!: string;

  @Field(() => LifecycleStatus)
  lifecycleStatus!: LifecycleStatus;

  @Field(() => Float, { description: 'Download progress 0..1.' })
  progress!: number;

  @Field(() => GraphQLSafeInt)
  bytesDone!: number;

  @Field(() => GraphQLSafeInt)
  bytesTotal!: number;

  @Field(() => Float, {
    nullable: true,
    description:
      'Transfer rate in bytes per second while DOWNLOADING, smoothed over the last seconds of the agent’s reports; null otherwise (and until two reports have arrived).',
  })
  bytesPerSecond!: number | null;

  @Field(() => Float, {
    nullable: true,
    description: 'Seconds left at the current rate while DOWNLOADING; null otherwise, or while the rate is unknown.',
  })
  etaSeconds!: number | null;

  @Field(() => String, { nullable: true, description: 'Where the model file lies on the node, once downloaded.' })
  filePath!: string | null;

  @Field(() => ModelLoadError, {
    nullable: true,
    description: 'The classified load failure, when the model failed to load.',
  })
  loadError!: ModelLoadError | null;

  @Field(() => String, {
    nullable: true,
    description: 'Machine-readable cause of an ERROR (a download or load error code).',
  })
  errorCode!: string | null;

  @Field(() => String, { nullable: true })
  errorMessage!: string | null;

  @Field(() => Date)
  updatedAt!: Date;
}

@ObjectType('Gpu')
export class Gpu {
  @Field()
  name!: string;

  @Field(() => GraphQLSafeInt)
  vramTotalBytes!: number;
}

@ObjectType('NodeMetrics', { description: 'A node’s load, as its last heartbeat reported it.' })
export class NodeMetrics {
  @Field(() => ID, {
    description:
      'The node’s id: a node has one set of current metrics, so a normalizing client cache keeps them as one entity that metricsUpdated events update wherever the node’s metrics are shown.',
  })
  id!: string;

  @Field(() => GraphQLSafeInt, {
    nullable: true,
    description:
      'Subscriptions only: position in this node’s metrics stream, one more than the previous metricsUpdated event of the same node; a gap means one was missed. Null in queries.',
  })
  seq!: number | null;

  @Field(() => Date, { description: 'When the metrics were reported.' })
  timestamp!: Date;

  @Field(() => ID)
  nodeId!: string;

  @Field(() => Float, { nullable: true, description: 'GPU utilisation in percent; null where it cannot be read.' })
  gpuUsage!: number | null;

  @Field(() => Float, { description: 'Memory in use, in percent of VRAM (RAM on a CPU-only node).' })
  memoryUsage!: number;

  @Field(() => GraphQLSafeInt, { description: 'Inference requests served since the agent started.' })
  requestCount!: number;

  @Field(() => GraphQLSafeInt)
  vramUsedBytes!: number;

  @Field(() => GraphQLSafeInt)
  vramTotalBytes!: number;

  @Field(() => Float, { description: 'CPU utilisation in percent over all cores.' })
  cpuUsage!: number;

  @Field(() => GraphQLSafeInt)
  ramUsedBytes!: number;

  @Field(() => GraphQLSafeInt)
  ramTotalBytes!: number;
}

@ObjectType('Node', { description: 'A GPU (or CPU-only) machine running the llmfleet agent.' })
export class Node {
  @Field(() => ID)
  id!: string;

  @Field()
  name!: string;

  @Field({ description: 'Where the control plane reaches the agent.' })
  url!: string;

  @Field(() => NodeStatus)
  status!: NodeStatus;

  @Field(() => Date)
  lastHeartbeatAt!: Date;

  @Field(() => Date)
  registeredAt!: Date;

  @Field(() => GraphQLSafeInt, {
    description: 'Memory models are checked against: total VRAM, or RAM on a CPU-only node.',
  })
  memoryBytes!: number;

  @Field(() => [Gpu])
  gpus!: Gpu[];

  @Field(() => Int)
  cpuCount!: number;

  @Field()
  platform!: string;

  @Field(() => NodeMetrics, { nullable: true, description: 'Null until the first heartbeat.' })
  metrics!: NodeMetrics | null;

  /** The node's model states when they came with it (an event): Node.models then needs no query. */
  preloadedModels?: NodeModelState[];
}

@ObjectType('NodeStatusEvent', { description: 'A node came online, went offline, or its models changed.' })
export class NodeStatusEvent {
  @Field(() => GraphQLSafeInt, {
    description:
      'Position in this node’s event stream: exactly one more than the previous nodeStatusChanged event of the same node, whichever replica published it, and events of a node arrive in seq order. A gap means an event was missed: re-query the node.',
  })
  seq!: number;

  @Field(() => Date)
  timestamp!: Date;

  @Field(() => ID)
  nodeId!: string;

  @Field()
  name!: string;

  @Field(() => NodeStatus)
  status!: NodeStatus;

  @Field(() => [NodeModelState], { description: 'The node’s models (the same as node.models).' })
  models!: NodeModelState[];

  @Field(() => Node, { description: 'The node as it now stands, with its id: a client cache updates it in place.' })
  node!: Node;
}
