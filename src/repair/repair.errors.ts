import { DomainError } from '../common/domain-error.js';

export enum RepairErrorReason {
  INVALID_REPORT = 'INVALID_REPORT',
  MODEL_NOT_ON_NODE = 'MODEL_NOT_ON_NODE',
  NODE_OFFLINE = 'NODE_OFFLINE',
}

export class RepairError extends DomainError<RepairErrorReason> {
  constructor(reason: RepairErrorReason, message: string, details: Record<string, unknown> = {}) {
    super(reason, message, details);
  }
}
