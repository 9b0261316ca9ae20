import { DomainError } from '../common/domain-error.js';

export enum NodesErrorReason {
  INVALID_REGISTRATION = 'INVALID_REGISTRATION',
  JOIN_TOKEN_REQUIRED = 'JOIN_TOKEN_REQUIRED',
  JOIN_TOKEN_INVALID = 'JOIN_TOKEN_INVALID',
  JOIN_TOKEN_CONFIGURED = 'JOIN_TOKEN_CONFIGURED',
  SECRET_UNREADABLE = 'SECRET_UNREADABLE',
  AGENT_URL_REFUSED = 'AGENT_URL_REFUSED',
  NODE_NAME_TAKEN = 'NODE_NAME_TAKEN',
  NODE_TOKEN_MISSING = 'NODE_TOKEN_MISSING',
  NODE_TOKEN_INVALID = 'NODE_TOKEN_INVALID',
  NODE_NOT_FOUND = 'NODE_NOT_FOUND',
  INVALID_HEARTBEAT = 'INVALID_HEARTBEAT',
  AGENT_UNREACHABLE = 'AGENT_UNREACHABLE',
  AGENT_REJECTED = 'AGENT_REJECTED',
}

export class NodesError extends DomainError<NodesErrorReason> {
  constructor(reason: NodesErrorReason, message: string, details: Record<string, unknown> = {}) {
    super(reason, message, details);
  }
}
