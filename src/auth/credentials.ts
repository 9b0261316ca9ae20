import type { IncomingMessage } from 'node:http';
import { API_KEY_PREFIX, SESSION_COOKIE, SESSION_PREFIX } from './key-material.js';
import { AuthError, AuthErrorReason } from './auth.errors.js';

/** What a request presents: an API key (Authorization: Bearer) or a dashboard session (cookie), or nothing. */
export type Credential = { kind: 'key'; secret: string } | { kind: 'session'; token: string } | null;

/** Query parameter names that clients use for keys; a key there is refused rather than silently ignored. */
const KEY_PARAMS = new Set(['api_key', 'apikey', 'api-key', 'key', 'access_token', 'token', 'authorization', 'auth']);

/** An API key or session token inside any parameter's value (e.g. pasted into GraphQL variables of a GET). */
const KEY_ANYWHERE = new RegExp(
  `(?:^|[^A-Za-z0-9_-])(?:${API_KEY_PREFIX}|${SESSION_PREFIX})[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])`,
);

/**
 * Reads the credential of an HTTP request or WebSocket upgrade. An Authorization header wins over the cookie and is
 * never second-guessed: a bad header is an error, not a reason to try the cookie.
 */
export function credentialOf(req: IncomingMessage): Credential {
  refuseKeyInQuery(req.url ?? '');
  const header = req.headers.authorization;
  if (header !== undefined) return { kind: 'key', secret: bearerSecret(header) };
  const session = cookieValue(req.headers.cookie, SESSION_COOKIE);
  return session ? { kind: 'session', token: session } : null;
}

/** `Bearer <key>` → the key; anything else is a clear error. */
export function bearerSecret(header: string): string {
  const match = /^Bearer[ ]+([\x21-\x7e]+)[ ]*$/i.exec(header);
  if (!match) {
    throw new AuthError(AuthErrorReason.KEY_MALFORMED, 'The Authorization header must be "Bearer <api key>"');
  }
  return match[1]!;
}

export function refuseKeyInQuery(url: string): void {
  const q = url.indexOf('?');
  if (q < 0) return;
  const query = url.slice(q + 1);
  if (!query) return;
  const params = new URLSearchParams(query);
  for (const [name, value] of params) {
    if (KEY_PARAMS.has(name.toLowerCase()) || KEY_ANYWHERE.test(value)) {
      throw new AuthError(
        AuthErrorReason.KEY_IN_QUERY_STRING,
        `API keys are not accepted in the query string (parameter "${name}": URLs end up in logs); send "Authorization: Bearer <key>"`,
        { parameter: name },
      );
    }
  }
}

/** One cookie's value from a Cookie header (no dependency: we read exactly one cookie of our own). */
export function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      return value || null;
    }
  }
  return null;
}
