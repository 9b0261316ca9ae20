import { apiUrl } from './apollo';
import type { ApiKeyRole } from './gql/graphql';

export interface Principal {
  keyId: string | null;
  name: string;
  role: ApiKeyRole;
}

export type SessionState =
  | { kind: 'loading' }
  | { kind: 'signed-out'; message?: string }
  | { kind: 'signed-in'; principal: Principal; open: boolean };

const RANK: Record<ApiKeyRole, number> = { INFERENCE: 0, VIEWER: 1, OPERATOR: 2, ADMIN: 3 };

export function atLeast(principal: Principal, role: ApiKeyRole): boolean {
  return RANK[principal.role] >= RANK[role];
}

/** The server's view of this browser's session cookie. A server without access control (404) is open to all. */
export async function readSession(): Promise<SessionState> {
  const res = await fetch(apiUrl('api/session'), { credentials: 'same-origin' });
  if (res.status === 404) {
    return { kind: 'signed-in', principal: { keyId: null, name: 'open server', role: 'ADMIN' }, open: true };
  }
  if (res.status === 401) return { kind: 'signed-out' };
  if (!res.ok) throw new Error(`GET api/session answered ${res.status}`);
  return { kind: 'signed-in', principal: (await res.json()) as Principal, open: false };
}

/** Exchanges an API key for the HttpOnly session cookie; the key itself is never stored by the page. */
export async function signIn(key: string): Promise<SessionState> {
  const res = await fetch(apiUrl('api/session'), {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key }),
  });
  if (res.ok) return { kind: 'signed-in', principal: (await res.json()) as Principal, open: false };
  let message = `Sign-in failed (${res.status})`;
  try {
    const body = (await res.json()) as { message?: string | string[]; error?: { message?: string } };
    const m = body.error?.message ?? body.message;
    if (m) message = Array.isArray(m) ? m.join('; ') : m;
  } catch {
    // Not JSON: keep the status line.
  }
  return { kind: 'signed-out', message };
}

export async function signOut(): Promise<void> {
  await fetch(apiUrl('api/session'), { method: 'DELETE', credentials: 'same-origin' });
}
