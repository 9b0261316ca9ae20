import { gql, type TypedDocumentNode } from '@apollo/client';

/*
 * Operations of the contracts in flight (auth: API keys; fleet: cancelDownload), typed by hand and left out of codegen
 * until their fields are in schema.gql. The pages show these actions only when the server's schema has them.
 */

export type ApiKeyRole = 'ADMIN' | 'OPERATOR' | 'VIEWER' | 'INFERENCE';

export interface ApiKey {
  __typename?: 'ApiKey';
  id: string;
  name: string;
  role: ApiKeyRole;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
}

const API_KEY = 'id name role prefix createdAt lastUsedAt expiresAt revokedAt';

export const ApiKeysQuery: TypedDocumentNode<{ apiKeys: ApiKey[] }, Record<string, never>> = gql(
  `query ApiKeys { apiKeys { ${API_KEY} } }`,
);

export const CreateApiKey: TypedDocumentNode<
  { createApiKey: { key: string; apiKey: ApiKey } },
  { name: string; role: ApiKeyRole; expiresAt: string | null }
> = gql(
  `mutation CreateApiKey($name: String!, $role: ApiKeyRole!, $expiresAt: DateTime) {
    createApiKey(name: $name, role: $role, expiresAt: $expiresAt) { key apiKey { ${API_KEY} } }
  }`,
);

export const RevokeApiKey: TypedDocumentNode<{ revokeApiKey: ApiKey }, { id: string }> = gql(
  `mutation RevokeApiKey($id: ID!) { revokeApiKey(id: $id) { ${API_KEY} } }`,
);

export const CancelDownload: TypedDocumentNode<
  { cancelDownload: Array<{ nodeId: string; modelId: string; lifecycleStatus: string }> },
  { modelId: string; nodeIds: string[] | null }
> = gql(
  `mutation CancelDownload($modelId: ID!, $nodeIds: [ID!]) {
    cancelDownload(modelId: $modelId, nodeIds: $nodeIds) { nodeId modelId lifecycleStatus progress bytesDone bytesTotal }
  }`,
);

/** Which optional operations the server offers, read from its schema once (introspection of two root types). */
export const ServerFeaturesQuery: TypedDocumentNode<
  { mutation: { fields: Array<{ name: string }> } | null },
  Record<string, never>
> = gql(`query ServerFeatures { mutation: __type(name: "Mutation") { fields { name } } }`);
