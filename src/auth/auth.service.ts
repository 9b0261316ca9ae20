import type { IncomingMessage } from 'node:http';
import { Injectable } from '@nestjs/common';
import { ApiKeyRole, roleSatisfies } from './api-key-role.js';
import { ApiKeysService } from './api-keys.service.js';
import { AuthError, AuthErrorReason } from './auth.errors.js';
import type { MountPolicy } from './mount-guard.js';
import { credentialOf, type Credential } from './credentials.js';
import { attachedPrincipal, attachPrincipal, type Principal } from './principal.js';
import { SessionsService } from './sessions.service.js';

/** Who a request is, worked out once per request whoever asks first (the response cache, the gate, the guard). */
@Injectable()
export class AuthService {
  private readonly pending = new WeakMap<object, Promise<Principal>>();
  /** Express-level mounts and their policies (mount-guard.ts), for the route test. */
  readonly mounts: MountPolicy[] = [];

  constructor(
    private readonly keys: ApiKeysService,
    private readonly sessions: SessionsService,
  ) {}

  /** The caller of this request; rejects with an AuthError (missing, malformed, unknown, expired, revoked…). */
  principalFor(req: IncomingMessage): Promise<Principal> {
    const known = attachedPrincipal(req);
    if (known) return Promise.resolve(known);
    let pending = this.pending.get(req);
    if (!pending) {
      pending = this.resolve(req);
      // Whoever asks later sees the rejection; this only keeps an unobserved one from being reported as unhandled.
      pending.catch(() => undefined);
      this.pending.set(req, pending);
    }
    return pending;
  }

  /** The caller, who must hold at least `role`. */
  async authorize(req: IncomingMessage, role: ApiKeyRole): Promise<Principal> {
    const principal = await this.principalFor(req);
    requireRole(principal, role);
    return principal;
  }

  /** Who a credential belongs to (the HTTP path, and graphql-ws's connection_init). */
  async verify(credential: Credential): Promise<Principal> {
    if (!credential) {
      throw new AuthError(AuthErrorReason.KEY_MISSING, 'An API key is required: send "Authorization: Bearer <key>"');
    }
    return credential.kind === 'key' ? this.keys.verify(credential.secret) : this.sessions.resolve(credential.token);
  }

  private async resolve(req: IncomingMessage): Promise<Principal> {
    const principal = await this.verify(credentialOf(req));
    attachPrincipal(req, principal);
    return principal;
  }
}

export function requireRole(principal: Principal, role: ApiKeyRole): void {
  if (!roleSatisfies(principal.role, role)) {
    throw new AuthError(
      AuthErrorReason.ROLE_TOO_LOW,
      `This needs ${/^[AEIOU]/.test(role) ? 'an' : 'a'} ${role} key or above; "${principal.name}" is ${principal.role}`,
      { requiredRole: role, role: principal.role },
    );
  }
}
