import DataLoader from 'dataloader';
import { OperationTypeNode, type GraphQLResolveInfo } from 'graphql';

const loaders = new WeakMap<object, Map<string, DataLoader<unknown, unknown>>>();

/**
 * A DataLoader that lives as long as one GraphQL request (keyed by its context object), so a field resolved for
 * every item of a list costs one batched query instead of one per item.
 */
export function requestLoader<K, V>(
  context: object,
  name: string,
  batch: (keys: readonly K[]) => Promise<V[]>,
): DataLoader<K, V> {
  let perRequest = loaders.get(context);
  if (!perRequest) {
    perRequest = new Map();
    loaders.set(context, perRequest);
  }
  let loader = perRequest.get(name) as DataLoader<K, V> | undefined;
  if (!loader) {
    loader = new DataLoader<K, V>(batch);
    perRequest.set(name, loader);
  }
  return loader;
}

/**
 * What a request loader lives as long as: the request, except in a subscription, where the context lives as long as
 * the connection and a cached answer would go stale: there, each event (the root value of its execution).
 */
export function loaderScope(context: object, info: GraphQLResolveInfo): object {
  const root: unknown = info.rootValue;
  return info.operation.operation === OperationTypeNode.SUBSCRIPTION && typeof root === 'object' && root !== null ? root : context;
}
