import { Field, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { GraphQLSafeInt } from 'graphql-scalars';

export enum DownloadSource {
  HUB = 'HUB',
  PEER = 'PEER',
}

registerEnumType(DownloadSource, {
  name: 'DownloadSource',
  description: 'Where a node fetches a model file from: the Hub, or a peer node that holds it verified (peer copy).',
});

@ObjectType('PeerCopyStats', { description: 'Peer copy across the fleet: bytes of finished and failed transfers.' })
export class PeerCopyStats {
  @Field(() => GraphQLSafeInt, { description: 'Bytes the nodes fetched from the Hub.' })
  bytesFromHub!: number;

  @Field(() => GraphQLSafeInt, {
    description: 'Bytes the nodes copied from peers (bytes that failed a sha256 check included).',
  })
  bytesFromPeers!: number;

  @Field(() => GraphQLSafeInt, {
    description: 'Bytes copied from peers that the Hub would otherwise have served (bytesFromPeers less bad bytes).',
  })
  bytesSavedFromHub!: number;

  @Field(() => Int, { description: 'File copies from a peer that completed and passed the sha256 check.' })
  peerTransfers!: number;

  @Field(() => Int, { description: 'Nodes reported for serving bytes that failed the sha256 check.' })
  reportedPeers!: number;
}
