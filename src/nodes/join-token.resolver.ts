import { Mutation, Query, Resolver } from '@nestjs/graphql';
import { ApiKeyRole } from '../auth/api-key-role.js';
import { RequireRole } from '../auth/require-role.decorator.js';
import { JoinTokenService } from './join-token.service.js';

@Resolver()
export class JoinTokenResolver {
  constructor(private readonly joinTokens: JoinTokenService) {}

  @Query(() => String, {
    description:
      'The token agents present to join the fleet (their NODE_JOIN_TOKEN): NODE_JOIN_TOKEN, or the one generated at first start (ADMIN).',
  })
  @RequireRole(ApiKeyRole.ADMIN)
  joinToken(): Promise<string> {
    return this.joinTokens.current();
  }

  @Mutation(() => String, {
    description:
      'Replaces the generated join token and returns the new one (ADMIN). The old one is refused at once on every replica; nodes already joined keep working. Refused when NODE_JOIN_TOKEN is set (change it there).',
  })
  @RequireRole(ApiKeyRole.ADMIN)
  rotateJoinToken(): Promise<string> {
    return this.joinTokens.rotate();
  }
}
