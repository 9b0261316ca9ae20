import {
  type CallHandler,
  type ExecutionContext,
  HttpException,
  Inject,
  Injectable,
  Logger,
  type NestInterceptor,
} from '@nestjs/common';
import { GqlExecutionContext, type GqlContextType } from '@nestjs/graphql';
import type { Redis } from 'ioredis';
import { catchError, type Observable, throwError } from 'rxjs';
import { DomainError } from '../common/domain-error.js';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { REDIS } from '../events/redis.tokens.js';
import { DEPENDENCY_LABEL, type Dependency } from './dependency-check.js';
import { DependencyError, DependencyErrorReason } from './dependency.errors.js';
import { endpointsOf, failedDependency, type DependencyEndpoints } from './dependency-failure.js';

/**
 * Requests fail fast and say why while Postgres or Redis is away: a mutation is refused up front while Redis is down
 * (its event or job would be lost), and a request that hits a lost connection answers UPSTREAM_UNAVAILABLE naming the
 * dependency instead of an anonymous internal error.
 */
@Injectable()
export class DependencyErrorsInterceptor implements NestInterceptor {
  private readonly logger = new Logger('Dependencies');
  private readonly endpoints: DependencyEndpoints;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(REDIS) private readonly redis: Redis,
  ) {
    this.endpoints = endpointsOf(config.DATABASE_URL, config.REDIS_URL);
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType<GqlContextType>() === 'graphql' && this.redis.status !== 'ready') {
      const operation = GqlExecutionContext.create(context).getInfo<{ parentType: { name: string } }>();
      if (operation.parentType.name === 'Mutation') throw unavailable('redis', 'changes are refused until it is back');
    }
    return next.handle().pipe(
      catchError((err: unknown) => {
        if (err instanceof DomainError || err instanceof HttpException) return throwError(() => err);
        const dependency = failedDependency(err, this.endpoints);
        if (!dependency) return throwError(() => err);
        this.logger.warn(`${DEPENDENCY_LABEL[dependency]} unavailable: ${(err as Error).message}`);
        return throwError(() => unavailable(dependency, 'retry when it is back'));
      }),
    );
  }
}

function unavailable(dependency: Dependency, what: string): DependencyError {
  const reason =
    dependency === 'redis' ? DependencyErrorReason.REDIS_UNAVAILABLE : DependencyErrorReason.DATABASE_UNAVAILABLE;
  return new DependencyError(
    reason,
    `${DEPENDENCY_LABEL[dependency]} is unavailable right now; ${what} (GET /health says which dependency is down)`,
    { dependency },
  );
}
