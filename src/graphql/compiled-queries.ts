import { HeaderMap, type ApolloServerPlugin, type GraphQLRequestContext } from '@apollo/server';
import { Kind, OperationTypeNode, type DocumentNode, type GraphQLSchema } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { LRUCache } from 'lru-cache';

/** Compiled operations kept per replica (a dashboard sends a handful of distinct queries). */
const MAX_COMPILED = 500;

/**
 * Queries run as compiled JavaScript (graphql-jit) instead of graphql-js's interpreter: a list of 1,000 models with
 * their node states is tens of thousands of field resolutions, each an interpreted walk in graphql-js. Only what is
 * safe to hand over:
 * - queries only: mutations keep graphql-js (the audit log wraps them), subscriptions never come here (graphql-ws);
 * - parsing and validation (with the limit rules) stay Apollo's: this replaces execution alone;
 * - an answer with any error is dropped and the query runs again in graphql-js (queries have no side effects), so
 *   errors keep exactly their usual shape, codes and formatting;
 * - the same resolvers run (Nest's wrappers, guards and loaders included), with the same context.
 * A document that graphql-jit cannot compile keeps graphql-js. Operations that differ only by their name share one
 * compiled form (clients number their operations; resolvers here never read the operation's name).
 */
export function compiledQueries(): ApolloServerPlugin {
  const compiled = new LRUCache<string, CompiledQuery | false>({ max: MAX_COMPILED });
  let compiledFor: GraphQLSchema | null = null;

  const compile = (schema: GraphQLSchema, document: DocumentNode, key: string, operationName: string | undefined) => {
    if (schema !== compiledFor) {
      compiled.clear();
      compiledFor = schema;
    }
    let query = compiled.get(key);
    if (query === undefined) {
      const result = compileQuery(schema, document, operationName);
      query = isCompiledQuery(result) ? result : false;
      compiled.set(key, query);
    }
    return query;
  };

  return {
    async requestDidStart() {
      return {
        async responseForOperation(ctx: GraphQLRequestContext<Record<string, unknown>>) {
          const { operation, document, schema, source } = ctx;
          if (operation?.operation !== OperationTypeNode.QUERY || document === undefined || source === undefined) {
            return null;
          }
          const query = compile(
            schema,
            document,
            cacheKey(document, source, ctx.operationName),
            ctx.operationName ?? undefined,
          );
          if (query === false) return null;
          const result = await query.query(undefined, ctx.contextValue, ctx.request.variables ?? {});
          if (result.errors?.length) return null;
          return {
            http: { status: undefined, headers: new HeaderMap() },
            body: { kind: 'single', singleResult: result },
          };
        },
      };
    },
  };
}

/** The document's text, without the operation's name when it holds one operation (so numbered operations share one). */
function cacheKey(document: DocumentNode, source: string, operationName: string | null | undefined): string {
  const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  const name = operations.length === 1 ? operations[0]!.name?.loc : undefined;
  if (operations.length === 1 && name) return `${source.slice(0, name.start)}${source.slice(name.end)}`;
  return `${operationName ?? ''}\n${source}`;
}
