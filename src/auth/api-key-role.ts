import { registerEnumType } from '@nestjs/graphql';

/** What a key may do (DESIGN.md, Security). ADMIN > OPERATOR > VIEWER > INFERENCE; INFERENCE is `/v1/*` only. */
export enum ApiKeyRole {
  ADMIN = 'ADMIN',
  OPERATOR = 'OPERATOR',
  VIEWER = 'VIEWER',
  INFERENCE = 'INFERENCE',
}

registerEnumType(ApiKeyRole, {
  name: 'ApiKeyRole',
  description: 'What an API key may do; each role includes the ones below it.',
  valuesMap: {
    ADMIN: { description: 'Everything, including API keys, the join token, the audit log and Bull Board writes.' },
    OPERATOR: { description: 'Register, download, cancel, delete, repair, verify; read everything but keys.' },
    VIEWER: { description: 'Queries and subscriptions; Bull Board read-only.' },
    INFERENCE: { description: 'The OpenAI-compatible `/v1/*` routes only.' },
  },
});

const RANK: Record<ApiKeyRole, number> = {
  [ApiKeyRole.INFERENCE]: 0,
  [ApiKeyRole.VIEWER]: 1,
  [ApiKeyRole.OPERATOR]: 2,
  [ApiKeyRole.ADMIN]: 3,
};

/** True when a key of role `have` may do what needs `need`. */
export function roleSatisfies(have: ApiKeyRole, need: ApiKeyRole): boolean {
  return RANK[have] >= RANK[need];
}
