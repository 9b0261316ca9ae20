import { DomainError } from '../common/domain-error.js';

export enum DownloadsErrorReason {
  NO_NODES = 'NO_NODES',
  EMPTY_NODE_LIST = 'EMPTY_NODE_LIST',
  NODES_UNREACHABLE = 'NODES_UNREACHABLE',
}

export class DownloadsError extends DomainError<DownloadsErrorReason> {
  constructor(reason: DownloadsErrorReason, message: string, details: Record<string, unknown> = {}) {
    super(reason, message, details);
  }
}
