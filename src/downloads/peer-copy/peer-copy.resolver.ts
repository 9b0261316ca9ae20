import { Context, ID, Parent, Query, ResolveField, Resolver, Info } from '@nestjs/graphql';
import type { GraphQLResolveInfo } from 'graphql';
import { loaderScope, requestLoader } from '../../common/request-loader.js';
import { NodeModelState } from '../../nodes/models/node.model.js';
import { DownloadSource, PeerCopyStats } from './peer-copy.models.js';
import { PeerCopyService } from './peer-copy.service.js';
import { PeerTransferStore, type LatestSource } from './peer-transfer.store.js';

@Resolver()
export class PeerCopyResolver {
  constructor(private readonly peerCopy: PeerCopyService) {}

  @Query(() => PeerCopyStats, {
    description: 'Bytes the fleet took from the Hub and from its own nodes (peer copy), and the bytes that saved.',
  })
  async peerCopyStats(): Promise<PeerCopyStats> {
    return Object.assign(new PeerCopyStats(), await this.peerCopy.totals());
  }
}

interface CopyFacts {
  source: LatestSource | null;
  refusal: string | null;
}

/** The peer-copy module's part of NodeModelState (the nodes module never imports it): where its bytes came from. */
@Resolver(() => NodeModelState)
export class NodeModelSourceResolver {
  constructor(private readonly store: PeerTransferStore) {}

  @ResolveField(() => DownloadSource, {
    nullable: true,
    description:
      'Where the node fetches (or fetched) the model’s bytes from: the latest source it was given for one of its files. Null until a source was given (nodes that downloaded before peer copy existed, or that wait for a peer).',
  })
  async source(@Parent() s: NodeModelState, @Context() c: object, @Info() i: GraphQLResolveInfo) {
    return ((await this.facts(s, c, i)).source?.source as DownloadSource | undefined) ?? null;
  }

  @ResolveField(() => ID, { nullable: true, description: 'The peer node the bytes come from, when source is PEER.' })
  async sourceNodeId(@Parent() s: NodeModelState, @Context() c: object, @Info() i: GraphQLResolveInfo) {
    return (await this.facts(s, c, i)).source?.sourceNodeId ?? null;
  }

  @ResolveField(() => String, { nullable: true, description: 'The name of that peer node.' })
  async sourceNodeName(@Parent() s: NodeModelState, @Context() c: object, @Info() i: GraphQLResolveInfo) {
    return (await this.facts(s, c, i)).source?.sourceNodeName ?? null;
  }

  @ResolveField(() => String, {
    nullable: true,
    description:
      'Why this node is never chosen to serve this model to peers: it served bytes that failed a receiver’s sha256 check. Null when it may serve.',
  })
  async peerCopyRefusedReason(@Parent() s: NodeModelState, @Context() c: object, @Info() i: GraphQLResolveInfo) {
    return (await this.facts(s, c, i)).refusal;
  }

  private facts(state: NodeModelState, context: object, info: GraphQLResolveInfo): Promise<CopyFacts> {
    const loader = requestLoader<string, CopyFacts>(loaderScope(context, info), 'peerCopyFacts', async (ids) => {
      const keys = ids.map((id) => {
        const at = id.indexOf(':');
        return { nodeId: id.slice(0, at), modelId: id.slice(at + 1) };
      });
      const [sources, refusals] = await Promise.all([this.store.latestSources(keys), this.store.refusals(keys)]);
      const key = (nodeId: string, modelId: string) => `${nodeId}:${modelId}`;
      const bySource = new Map(sources.map((s) => [key(s.nodeId, s.modelId), s]));
      const byRefusal = new Map(refusals.map((r) => [key(r.nodeId, r.modelId), r.reason]));
      return ids.map((id) => ({ source: bySource.get(id) ?? null, refusal: byRefusal.get(id) ?? null }));
    });
    return loader.load(`${state.nodeId}:${state.modelId}`);
  }
}
