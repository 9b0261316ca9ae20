import { SetMetadata } from '@nestjs/common';
import { ApiKeyRole } from './api-key-role.js';
import { AUTH_POLICY, type AuthPolicy } from './auth-policy.js';

export { ApiKeyRole };

/**
 * The least role a caller needs: on a GraphQL root field (overriding the default of VIEWER for queries and
 * subscriptions, OPERATOR for mutations) or on a REST route/controller. See auth-policy.ts for the other policies.
 */
export const RequireRole = (role: ApiKeyRole): MethodDecorator & ClassDecorator =>
  SetMetadata(AUTH_POLICY, { kind: 'role', role } satisfies AuthPolicy);
