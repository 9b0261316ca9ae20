import { DomainError } from '../common/domain-error.js';

export enum DependencyErrorReason {
  DATABASE_UNAVAILABLE = 'DATABASE_UNAVAILABLE',
  REDIS_UNAVAILABLE = 'REDIS_UNAVAILABLE',
}

/** Postgres or Redis cannot be reached right now: the request failed, nothing was half-done, retry when it is back. */
export class DependencyError extends DomainError<DependencyErrorReason> {
  constructor(reason: DependencyErrorReason, message: string, details: { dependency: 'database' | 'redis' }) {
    super(reason, message, details);
  }
}
