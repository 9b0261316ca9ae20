import { Args, ID, Mutation, Query, Resolver } from '@nestjs/graphql';
import { ApiKeyRole } from './api-key-role.js';
import { ApiKeysService } from './api-keys.service.js';
import { CurrentPrincipal } from './current-principal.decorator.js';
import type { ApiKeyEntity } from './entities/api-key.entity.js';
import { ApiKey, CreatedApiKey, PrincipalModel } from './models/api-key.model.js';
import type { Principal } from './principal.js';
import { RequireRole } from './require-role.decorator.js';

@Resolver()
export class ApiKeysResolver {
  constructor(private readonly keys: ApiKeysService) {}

  @Query(() => PrincipalModel, { description: 'Who you are: the key this request was made with.' })
  me(@CurrentPrincipal() principal: Principal): PrincipalModel {
    return { keyId: principal.keyId, name: principal.name, role: principal.role };
  }

  @Query(() => [ApiKey], { description: 'Every API key, newest first, revoked ones included (ADMIN).' })
  @RequireRole(ApiKeyRole.ADMIN)
  async apiKeys(): Promise<ApiKey[]> {
    return (await this.keys.list()).map(toApiKey);
  }

  @Mutation(() => CreatedApiKey, {
    description:
      'Creates an API key and returns its secret, this once (ADMIN). No key can mint one above its own role.',
  })
  @RequireRole(ApiKeyRole.ADMIN)
  async createApiKey(
    @CurrentPrincipal() principal: Principal,
    @Args('name', { description: 'What the key is for (1 to 100 characters), e.g. "grafana" or "ci".' }) name: string,
    @Args('role', { type: () => ApiKeyRole, description: 'What the key may do.' }) role: ApiKeyRole,
    @Args('expiresAt', { type: () => Date, nullable: true, description: 'When it stops working; omit for never.' })
    expiresAt?: Date | null,
  ): Promise<CreatedApiKey> {
    const created = await this.keys.create(principal, { name, role, expiresAt: expiresAt ?? null });
    return { key: created.key, apiKey: toApiKey(created.apiKey) };
  }

  @Mutation(() => ApiKey, {
    description: 'Revokes an API key at once: requests with it are refused and its open WebSockets closed (ADMIN).',
  })
  @RequireRole(ApiKeyRole.ADMIN)
  async revokeApiKey(@Args('id', { type: () => ID, description: 'The key’s id.' }) id: string): Promise<ApiKey> {
    return toApiKey(await this.keys.revoke(id));
  }
}

function toApiKey(entity: ApiKeyEntity): ApiKey {
  return {
    id: entity.id,
    name: entity.name,
    role: entity.role,
    prefix: entity.prefix,
    createdAt: entity.createdAt,
    lastUsedAt: entity.lastUsedAt,
    expiresAt: entity.expiresAt,
    revokedAt: entity.revokedAt,
  };
}
