/** Argument names whose values are secrets, whatever they hold (`token`, `apiKey`, `hfToken`, `password`…). */
const SECRET_NAME = /token|key|secret|password|passphrase|authorization|credential/i;
/** Secrets inside any string: API keys, session tokens, Hugging Face tokens, bearer values. */
const SECRET_VALUE = /\b(?:lfs?_[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{20,}|Bearer\s+\S+)/g;
const MASK = '[REDACTED]';
const MAX_STRING = 1000;
const MAX_ITEMS = 100;

/**
 * A mutation's arguments as the audit log keeps them: values under a secret-sounding name masked, secret-shaped
 * substrings masked anywhere, long strings and lists cut. Never the result (createApiKey's key is not an argument).
 */
export function auditArguments(args: Record<string, unknown>): Record<string, unknown> {
  return mask(args, 0) as Record<string, unknown>;
}

function mask(value: unknown, depth: number): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') {
    const masked = value.replace(SECRET_VALUE, MASK);
    return masked.length > MAX_STRING ? `${masked.slice(0, MAX_STRING)}… (${masked.length} characters)` : masked;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (depth >= 5) return '…';
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ITEMS).map((v) => mask(v, depth + 1));
    return value.length > MAX_ITEMS ? [...items, `… (${value.length} items)`] : items;
  }
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [name, v] of Object.entries(value)) {
      out[name] = SECRET_NAME.test(name) && v !== null && v !== undefined ? MASK : mask(v, depth + 1);
    }
    return out;
  }
  return typeof value; // a function or symbol: nothing worth keeping
}
