import { createSourceEventStream, execute, print, type ExecutionArgs, type ExecutionResult } from 'graphql';

/** Per event object: the execution result for each (document, variables, operation) that asked for it. */
const executions = new WeakMap<object, Map<string, Promise<ExecutionResult>>>();

/**
 * graphql-js `subscribe`, except that subscribers with the same document and variables share one execution per event
 * (the Redis PubSub hands every subscriber the same parsed event object). With 1,000 dashboards watching one topic, an
 * event is executed once instead of 1,000 times. Valid because subscription resolvers depend on the event and the
 * arguments only, never on the connection's context.
 */
export async function sharedSubscribe(
  args: ExecutionArgs,
): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  const stream = await createSourceEventStream(args);
  if (!isAsyncIterable(stream)) return stream;
  const key = JSON.stringify([print(args.document), args.variableValues ?? null, args.operationName ?? null]);
  return mapAsyncIterator(stream, (event) => {
    if (typeof event !== 'object' || event === null) return execute({ ...args, rootValue: event });
    let perEvent = executions.get(event);
    if (!perEvent) {
      perEvent = new Map();
      executions.set(event, perEvent);
    }
    let result = perEvent.get(key);
    if (!result) {
      result = Promise.resolve(execute({ ...args, rootValue: event }));
      perEvent.set(key, result);
    }
    return result;
  });
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/** Like graphql-js's own: `return()` reaches the source at once, even while a `next()` is pending. */
function mapAsyncIterator<T, U>(
  iterable: AsyncIterable<T>,
  fn: (value: T) => Promise<U> | U,
): AsyncIterableIterator<U> {
  const iterator = iterable[Symbol.asyncIterator]();
  const map = async (result: IteratorResult<T>): Promise<IteratorResult<U>> => {
    if (result.done) return { done: true, value: undefined };
    try {
      return { done: false, value: await fn(result.value) };
    } catch (err) {
      await iterator.return?.().catch(() => undefined);
      throw err;
    }
  };
  return {
    next: async () => map(await iterator.next()),
    return: async () => (iterator.return ? map(await iterator.return()) : { done: true, value: undefined }),
    throw: async (error?: unknown) => {
      if (iterator.throw) return map(await iterator.throw(error));
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
