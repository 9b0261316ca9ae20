import DataLoader from 'dataloader';

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
