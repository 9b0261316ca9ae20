import { Inject, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { LRUCache } from 'lru-cache';
import { LessThan, Repository } from 'typeorm';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.tokens.js';
import { ApiKeyRole, roleSatisfies } from './api-key-role.js';
import { ApiKeysService } from './api-keys.service.js';
import { AuthBus } from './auth-bus.js';
import { AuthError, AuthErrorReason } from './auth.errors.js';
import { ApiSessionEntity } from './entities/api-session.entity.js';
import { isSessionTokenShaped, newSessionToken, sha256Hex } from './key-material.js';
import type { Principal } from './principal.js';

/** Like ApiKeysService's: a logout on another replica reaches this one through AuthBus at once; this bounds a lost message. */
const CACHE_TTL_MS = 5000;

type SessionRecord = Pick<ApiSessionEntity, 'credentialHash' | 'expiresAt'>;

/** Dashboard sessions: a cookie that stands for an API key, so a browser never keeps the key itself. */
@Injectable()
export class SessionsService {
  private readonly cache = new LRUCache<string, SessionRecord>({ max: 10_000, ttl: CACHE_TTL_MS });

  constructor(
    @InjectRepository(ApiSessionEntity) private readonly sessions: Repository<ApiSessionEntity>,
    private readonly keys: ApiKeysService,
    private readonly bus: AuthBus,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    bus.onMessage((message) => {
      if (message.type === 'session-ended') this.cache.delete(message.tokenHash);
    });
  }

  /** Signs in with an API key: a new session token (for the cookie) and who it stands for. */
  async open(secret: string): Promise<{ token: string; principal: Principal; expiresAt: Date }> {
    const principal = await this.keys.verify(secret);
    if (!roleSatisfies(principal.role, ApiKeyRole.VIEWER)) {
      throw new AuthError(
        AuthErrorReason.ROLE_TOO_LOW,
        `An ${principal.role} key works on /v1/* only; the dashboard needs a VIEWER key or above`,
      );
    }
    const ttlEnd = Date.now() + this.config.SESSION_TTL_MS;
    const expiresAt = new Date(Math.min(ttlEnd, principal.expiresAt?.getTime() ?? ttlEnd));
    const token = newSessionToken();
    await this.sessions.delete({ expiresAt: LessThan(new Date()) });
    await this.sessions.insert({ tokenHash: sha256Hex(token), credentialHash: principal.credentialHash, expiresAt });
    return { token, principal, expiresAt };
  }

  /** Who a session cookie stands for; the key behind it must still be valid (revoked or expired: refused). */
  async resolve(token: string): Promise<Principal> {
    const invalid = () =>
      new AuthError(AuthErrorReason.SESSION_INVALID, 'The session has expired or was ended: sign in again');
    if (!isSessionTokenShaped(token)) throw invalid();
    const hash = sha256Hex(token);
    let record = this.cache.get(hash);
    if (!record) {
      const found = await this.sessions.findOne({
        where: { tokenHash: hash },
        select: { credentialHash: true, expiresAt: true },
      });
      if (!found) throw invalid();
      record = found;
      this.cache.set(hash, record);
    }
    if (record.expiresAt.getTime() <= Date.now()) throw invalid();
    return this.keys.verifyHash(record.credentialHash);
  }

  /** Ends the session this token names (no-op when it is unknown): here at once, on the other replicas next. */
  async close(token: string): Promise<void> {
    if (!isSessionTokenShaped(token)) return;
    const tokenHash = sha256Hex(token);
    await this.sessions.delete({ tokenHash });
    await this.bus.publish({ type: 'session-ended', tokenHash });
  }
}
