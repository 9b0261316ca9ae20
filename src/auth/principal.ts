import type { ApiKeyRole } from './api-key-role.js';

/** Who is calling: the key behind the request (directly or through a dashboard session). */
export interface Principal {
  /** null for ADMIN_API_KEY, which lives in the configuration, not the database. */
  keyId: string | null;
  name: string;
  role: ApiKeyRole;
  expiresAt: Date | null;
  /** sha256 of the key: what a session stands for, and what revocation matches on. */
  credentialHash: string;
}

const attached = new WeakMap<object, Principal>();

/** Remembers who a request (or a WebSocket's upgrade request) authenticated as, for guards and resolvers. */
export function attachPrincipal(req: object, principal: Principal): void {
  attached.set(req, principal);
}

export function attachedPrincipal(req: object): Principal | undefined {
  return attached.get(req);
}
