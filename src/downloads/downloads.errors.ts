import { DomainError } from '../common/domain-error.js';

export enum DownloadsErrorReason {
  NO_NODES = 'NO_NODES',
  EMPTY_NODE_LIST = 'EMPTY_NODE_LIST',
  NODES_UNREACHABLE = 'NODES_UNREACHABLE',
  /** A peer-copy request or report that does not fit (unknown file, wrong sha256, malformed body). */
  INVALID_PEER_REQUEST = 'INVALID_PEER_REQUEST',
  /** A report about a peer transfer this node was never given. */
  TRANSFER_NOT_FOUND = 'TRANSFER_NOT_FOUND',
}

export class DownloadsError extends DomainError<DownloadsErrorReason> {
  constructor(reason: DownloadsErrorReason, message: string, details: Record<string, unknown> = {}) {
    super(reason, message, details);
  }
}
