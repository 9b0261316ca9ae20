/** Answers already serialized (by the models query cache), keyed by their `data` object. */
const serialized = new WeakMap<object, string>();

interface ExecutionResultLike {
  errors?: unknown;
  data?: unknown;
  extensions?: unknown;
}

/** Keeps the serialization of an answer without errors, so Apollo sends these bytes instead of stringifying again. */
export function serializeOnce(result: ExecutionResultLike): string {
  const body = `${JSON.stringify({ data: result.data, extensions: result.extensions })}\n`;
  if (typeof result.data === 'object' && result.data !== null) serialized.set(result.data, body);
  return body;
}

/**
 * Apollo's `stringifyResult`: what its default does (compact JSON and a newline, errors then data then extensions),
 * reusing an answer serializeOnce already produced.
 */
export function stringifyResult(value: ExecutionResultLike): string {
  if (value.errors === undefined && typeof value.data === 'object' && value.data !== null) {
    const known = serialized.get(value.data);
    if (known !== undefined) return known;
  }
  return `${JSON.stringify(value)}\n`;
}
