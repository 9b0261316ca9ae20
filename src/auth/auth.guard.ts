import type { IncomingMessage } from 'node:http';
import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { GqlExecutionContext, type GqlContextType } from '@nestjs/graphql';
import type { GraphQLResolveInfo } from 'graphql';
import { ApiKeyRole } from './api-key-role.js';
import { AUTH_POLICY, type AuthPolicy } from './auth-policy.js';
import { AuthError, AuthErrorReason } from './auth.errors.js';
import { AuthService } from './auth.service.js';

/**
 * The one global guard. GraphQL root fields: their @RequireRole, else VIEWER for Query/Subscription and OPERATOR for
 * Mutation (HTTP and graphql-ws alike: the WebSocket's principal was attached at connection_init). REST: the route's
 * declared policy (auth-policy.ts); a route without one is refused.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const policy = this.reflector.getAllAndOverride<AuthPolicy | undefined>(AUTH_POLICY, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (context.getType<GqlContextType>() === 'graphql') {
      const gql = GqlExecutionContext.create(context);
      const parentType = gql.getInfo<GraphQLResolveInfo>().parentType.name;
      const role =
        policy?.kind === 'role' ? policy.role : parentType === 'Mutation' ? ApiKeyRole.OPERATOR : ApiKeyRole.VIEWER;
      const req = gql.getContext<{ req?: IncomingMessage }>().req;
      if (!req) throw new AuthError(AuthErrorReason.KEY_MISSING, 'An API key is required');
      await this.auth.authorize(req, role);
      return true;
    }
    if (context.getType() !== 'http') return false;
    const req = context.switchToHttp().getRequest<IncomingMessage>();
    if (!policy) {
      throw new AuthError(
        AuthErrorReason.NO_POLICY,
        `${req.method} ${(req.url ?? '').split('?')[0]} declares no access policy`,
      );
    }
    switch (policy.kind) {
      case 'public':
      case 'node-protocol':
        return true;
      case 'role':
        await this.auth.authorize(req, policy.role);
        return true;
    }
  }
}
