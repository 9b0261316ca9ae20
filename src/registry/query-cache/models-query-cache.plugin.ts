import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import { Plugin } from '@nestjs/apollo';
import { Kind, OperationTypeNode } from 'graphql';
import { serializeOnce } from '../../common/serialized-results.js';
import { ModelsQueryCache } from './models-query-cache.service.js';

/**
 * Root fields whose answers change only with a model status event or new Hub figures. Each must need exactly VIEWER
 * (the cache middleware serves any VIEWER caller): a field with @RequireRole does not belong here.
 */
const CACHEABLE_ROOT_FIELDS = new Set(['models', 'model', 'supportedModels']);

/** Fills ModelsQueryCache with the serialized answers of read-only model queries (the middleware serves them). */
@Plugin()
export class ModelsQueryCachePlugin implements ApolloServerPlugin {
  constructor(private readonly cache: ModelsQueryCache) {}

  async requestDidStart(): Promise<GraphQLRequestListener<Record<string, never>>> {
    const generation = this.cache.generation;
    let key: string | null = null;
    return {
      didResolveOperation: async ({ request, operation }) => {
        const cacheable =
          request.http?.method === 'POST' &&
          operation !== undefined &&
          operation.operation === OperationTypeNode.QUERY &&
          operation.selectionSet.selections.every(
            (s) => s.kind === Kind.FIELD && CACHEABLE_ROOT_FIELDS.has(s.name.value),
          );
        if (cacheable) key = ModelsQueryCache.key(request.query, request.operationName, request.variables);
      },
      willSendResponse: async ({ response }) => {
        if (!key || response.body.kind !== 'single' || response.body.singleResult.errors?.length) return;
        this.cache.set(key, generation, serializeOnce(response.body.singleResult));
      },
    };
  }
}
